"""The Tooling API's CustomField create: ``POST /services/data/vXX.X/tooling/sobjects/CustomField``.

The body is what real clients send: ``{"FullName": "Lead.First_Touch_Channel__c",
"Metadata": {"type": "Text", "label": "First Touch Channel", "length": 80}}``. The field
joins the object's schema (describe, SOQL, REST and Bulk DML see it at once), gets a column
in the org database, and is remembered in the org's ``_meta`` so a restart keeps it. A field
that exists already is refused with ``DUPLICATE_VALUE``, as Salesforce does.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from emulator.ids import make_id
from emulator.schema import FieldDef, add_custom_field, get_object
from emulator.store import _column_sql, quote_ident
from emulator.web import Request, Response, error_response, json_response

if TYPE_CHECKING:
    from emulator.app import EmulatorApp, RouteMatch

META_KEY = "custom_fields"
_FULL_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z][A-Za-z0-9_]*__c)$")
# Metadata API field type -> (describe type, default length).
_TYPES = {"Text": ("string", 255), "LongTextArea": ("textarea", 32768), "TextArea": ("textarea", 255),
          "Email": ("email", 80), "Phone": ("phone", 40), "Url": ("url", 255), "Number": ("double", 0),
          "Currency": ("currency", 0), "Percent": ("percent", 0), "Checkbox": ("boolean", 0),
          "Date": ("date", 0), "DateTime": ("datetime", 0)}


class ToolingError(ValueError):
    """A CustomField the Tooling API refuses: an error code and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def field_from_metadata(name: str, metadata: dict[str, Any]) -> FieldDef:
    """The field a CustomField's ``Metadata`` describes.

    Raises:
        ToolingError: an unknown type, a missing label, or a length out of range.
    """
    kind = metadata.get("type")
    if kind not in _TYPES:
        raise ToolingError("FIELD_INTEGRITY_EXCEPTION", f"Unsupported field type: {kind!r} "
                           f"(one of {', '.join(sorted(_TYPES))})")
    label = metadata.get("label")
    if not isinstance(label, str) or not label.strip():
        raise ToolingError("REQUIRED_FIELD_MISSING", "Required fields are missing: [label]")
    sf_type, default_length = _TYPES[kind]
    length = int(metadata.get("length") or default_length)
    if kind == "Text" and not 1 <= length <= 255:
        raise ToolingError("FIELD_INTEGRITY_EXCEPTION", "Length: Text fields can be 1 to 255 characters long")
    if sf_type == "boolean":
        return FieldDef(name, "boolean", label, nillable=False, defaulted=True, custom=True)
    precision = int(metadata.get("precision") or (18 if sf_type in ("double", "currency", "percent") else 0))
    scale = int(metadata.get("scale") or 0)
    return FieldDef(name, sf_type, label, length=length if sf_type in ("string", "textarea", "email", "phone", "url")
                    else 0, custom=True, precision=precision, scale=scale)


class ToolingRoutes:
    """CustomField creation, and the custom fields created earlier put back at start-up.

    Args:
        app: The emulator application.
    """

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        for entry in app.store.get_meta(META_KEY, []):
            self._add(entry["object"], entry["name"], entry["metadata"])

    def _add(self, object_name: str, name: str, metadata: dict[str, Any]) -> FieldDef:
        obj = get_object(object_name)
        if obj is None:
            raise ToolingError("INVALID_TYPE", f"Cannot find object: {object_name}")
        if obj.field(name) is not None:
            raise ToolingError("DUPLICATE_VALUE", f"duplicate value found: {object_name}.{name} already exists")
        fdef = field_from_metadata(name, metadata)
        with self.app.store.write() as conn:
            have = {row[1].lower() for row in conn.execute(f"PRAGMA table_info({quote_ident(obj.name)})")}
            if name.lower() not in have:
                conn.execute(f"ALTER TABLE {quote_ident(obj.name)} ADD COLUMN {_column_sql(fdef)}")
        add_custom_field(obj, fdef)
        return fdef

    def create_field(self, req: Request, m: RouteMatch) -> Response:
        """``POST tooling/sobjects/CustomField``."""
        try:
            body = req.json()
        except ValueError:
            return error_response(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
        if not isinstance(body, dict):
            return error_response(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        found = _FULL_NAME.match(str(body.get("FullName") or ""))
        metadata = body.get("Metadata")
        if not found or not isinstance(metadata, dict):
            return error_response(400, "INVALID_FIELD", "FullName must be Object.Field__c and Metadata an object")
        object_name, name = found.groups()
        try:
            with self.app.store.write_lock:
                self._add(object_name, name, metadata)
                fields = self.app.store.get_meta(META_KEY, [])
                fields.append({"object": get_object(object_name).name, "name": name,  # type: ignore[union-attr]
                               "metadata": metadata})
                self.app.store.set_meta(META_KEY, fields)
                field_id = make_id("00N", len(fields))
        except ToolingError as exc:
            return error_response(400, exc.code, str(exc), [])
        return json_response(201, {"id": field_id, "success": True, "errors": [], "warnings": [], "infos": []})
