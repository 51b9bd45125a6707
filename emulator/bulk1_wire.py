"""Bulk API 1.0 wire formats: job and batch bodies in JSON and XML, batch data in CSV, JSON and XML.

Salesforce's async API answers in the job's content type (JSON jobs in JSON, CSV and XML jobs
in XML), reads job requests in the request's own Content-Type, and writes errors as
``{"exceptionCode", "exceptionMessage"}`` or ``<error>`` in the asyncapi namespace.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

NS = "http://www.force.com/2009/06/asyncapi/dataload"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML_TYPE = "application/xml;charset=UTF-8"
JSON_TYPE = "application/json"
CSV_TYPE = "text/csv;charset=UTF-8"
JOB_FIELDS = ("id", "operation", "object", "createdById", "createdDate", "systemModstamp", "state",
              "externalIdFieldName", "concurrencyMode", "contentType", "numberBatchesQueued",
              "numberBatchesInProgress", "numberBatchesCompleted", "numberBatchesFailed", "numberBatchesTotal",
              "numberRecordsProcessed", "numberRetries", "apiVersion", "numberRecordsFailed", "totalProcessingTime",
              "apiActiveProcessingTime", "apexProcessingTime")
BATCH_FIELDS = ("id", "jobId", "state", "stateMessage", "createdDate", "systemModstamp", "numberRecordsProcessed",
                "numberRecordsFailed", "totalProcessingTime", "apiActiveProcessingTime", "apexProcessingTime")


class WireError(Exception):
    """A malformed request body (``exceptionCode``, message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def parse_job_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """A ``jobInfo`` request body (JSON or XML) as a dict of its elements."""
    text = raw.decode("utf-8-sig", "replace").strip()
    if not text:
        raise WireError("InvalidJob", "The request body is empty")
    if text.startswith("<"):
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            raise WireError("XmlParseError", f"Unable to parse the job: {exc}") from None
        if _local(root.tag) != "jobInfo":
            raise WireError("InvalidJob", f"Unexpected root element {_local(root.tag)}, expected jobInfo")
        return {_local(child.tag): (child.text or "").strip() for child in root}
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise WireError("JsonParseError" if "json" in content_type else "InvalidJob",
                        f"Unable to parse the job: {exc}") from None
    if not isinstance(body, dict):
        raise WireError("InvalidJob", "The job must be a JSON object")
    return body


def render_info(kind: str, info: dict[str, Any], as_xml: bool) -> tuple[bytes, str]:
    """A ``jobInfo`` or ``batchInfo`` in JSON or XML; returns (body, Content-Type)."""
    names = JOB_FIELDS if kind == "jobInfo" else BATCH_FIELDS
    present = [(n, info[n]) for n in names if info.get(n) is not None]
    if not as_xml:
        return json.dumps(dict(present)).encode("utf-8"), JSON_TYPE
    inner = "".join(f"<{n}>{_text(v)}</{n}>" for n, v in present)
    return (f'<?xml version="1.0" encoding="UTF-8"?><{kind} xmlns="{NS}">{inner}</{kind}>').encode(), XML_TYPE


def render_batch_list(batches: list[dict[str, Any]], as_xml: bool) -> tuple[bytes, str]:
    """``GET job/{id}/batch``: every batch of a job."""
    if not as_xml:
        return json.dumps({"batchInfo": [{n: b[n] for n in BATCH_FIELDS if b.get(n) is not None}
                                         for b in batches]}).encode("utf-8"), JSON_TYPE
    inner = "".join(render_info("batchInfo", b, True)[0].decode("utf-8").split("?>", 1)[1].replace(
        f' xmlns="{NS}"', "", 1) for b in batches)
    return (f'<?xml version="1.0" encoding="UTF-8"?><batchInfoList xmlns="{NS}">{inner}</batchInfoList>'
            ).encode(), XML_TYPE


def render_error(code: str, message: str, as_xml: bool) -> tuple[bytes, str]:
    """An async API error body."""
    if not as_xml:
        return json.dumps({"exceptionCode": code, "exceptionMessage": message}).encode("utf-8"), JSON_TYPE
    return (f'<?xml version="1.0" encoding="UTF-8"?><error xmlns="{NS}"><exceptionCode>{escape(code)}'
            f"</exceptionCode><exceptionMessage>{escape(message)}</exceptionMessage></error>").encode(), XML_TYPE


def render_result_ids(ids: list[str], as_xml: bool) -> tuple[bytes, str]:
    """The result-set ids of a query batch."""
    if not as_xml:
        return json.dumps(ids).encode("utf-8"), JSON_TYPE
    inner = "".join(f"<result>{i}</result>" for i in ids)
    return (f'<?xml version="1.0" encoding="UTF-8"?><result-list xmlns="{NS}">{inner}</result-list>'
            ).encode(), XML_TYPE


def parse_records(raw: bytes, content_type: str) -> list[dict[str, Any]]:
    """DML batch data as a list of records: ``None`` sets null; a missing key leaves a field alone.

    Args:
        raw: The batch body.
        content_type: The job's content type (``JSON``, ``CSV`` or ``XML``).
    """
    text = raw.decode("utf-8-sig", "replace")
    if content_type == "JSON":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise WireError("InvalidBatch", f"Failed to parse JSON: {exc}") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise WireError("InvalidBatch", "Records must be a JSON array of objects")
        return [{k: v for k, v in r.items() if k != "attributes"} for r in data]
    if content_type == "CSV":
        rows = list(csv.reader(io.StringIO(text)))
        if not rows or not rows[0] or rows[0] == [""]:
            raise WireError("InvalidBatch", "InvalidBatch : The CSV has no header row")
        header = rows[0]
        records = []
        for row in rows[1:]:
            if not row:
                continue
            if len(row) != len(header):
                raise WireError("InvalidBatch", f"InvalidBatch : Record has {len(row)} fields but the header has "
                                f"{len(header)}")
            records.append({h: (None if v == "#N/A" else v) for h, v in zip(header, row, strict=True) if v != ""})
        return records
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise WireError("InvalidBatch", f"Failed to parse XML: {exc}") from None
    records = []
    for element in root:
        if _local(element.tag) != "sObject":
            continue
        record: dict[str, Any] = {}
        for child in element:
            name = _local(child.tag)
            if name == "type":
                continue
            nil = child.get(f"{{{XSI}}}nil") == "true"
            record[name] = None if nil else (child.text or "")
        records.append(record)
    return records


def render_dml_results(results: list[dict[str, Any]], content_type: str) -> tuple[bytes, str]:
    """Per-record DML results in submission order (``id``, ``success``, ``created``, ``errors``)."""
    if content_type == "JSON":
        return json.dumps(results).encode("utf-8"), JSON_TYPE
    if content_type == "CSV":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow(["Id", "Success", "Created", "Error"])
        for r in results:
            error = "".join(f"{e['statusCode']}:{e['message']}:{','.join(e['fields'])} --" for e in r["errors"])
            writer.writerow([r["id"] or "", _text(r["success"]), _text(r["created"]), error])
        return buffer.getvalue().encode("utf-8"), CSV_TYPE
    parts = []
    for r in results:
        errors = "".join(f"<errors>{''.join(f'<fields>{escape(f)}</fields>' for f in e['fields'])}"
                         f"<message>{escape(e['message'])}</message><statusCode>{e['statusCode']}</statusCode>"
                         "</errors>" for e in r["errors"])
        rid = f"<id>{r['id']}</id>" if r["id"] else '<id xsi:nil="true"/>'
        parts.append(f"<result>{errors}{rid}<success>{_text(r['success'])}</success>"
                     f"<created>{_text(r['created'])}</created></result>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><results xmlns="{NS}" xmlns:xsi="{XSI}">{"".join(parts)}'
            "</results>").encode(), XML_TYPE
