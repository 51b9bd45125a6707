"""The Tooling API's CustomField create: the field is described, queried and written at once,
a second create is refused as a duplicate, and a restart keeps it."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest


def test_a_created_custom_field_is_usable_kept_and_not_created_twice(fresh, connect) -> None:
    handle = fresh(records=50, seed=5)
    sf = connect(handle)
    assert "Touch_Note__c" not in {f["name"] for f in sf.Lead.describe()["fields"]}
    body = {"FullName": "Lead.Touch_Note__c", "Metadata": {"type": "Text", "label": "Touch Note", "length": 40}}
    created = sf.toolingexecute("sobjects/CustomField", method="POST", data=body)
    assert created["success"] is True and created["id"].startswith("00N")
    described = {f["name"]: f for f in sf.Lead.describe()["fields"]}["Touch_Note__c"]
    assert (described["type"], described["length"], described["custom"], described["updateable"]) == (
        "string", 40, True, True)
    lead = sf.Lead.create({"LastName": "Tooling", "Company": "Emu", "Touch_Note__c": "from the form"})["id"]
    assert sf.query(f"SELECT Touch_Note__c FROM Lead WHERE Id = '{lead}'")["records"][0]["Touch_Note__c"] == \
        "from the form"
    with pytest.raises(SalesforceMalformedRequest) as duplicate:
        sf.toolingexecute("sobjects/CustomField", method="POST", data=body)
    assert duplicate.value.content[0]["errorCode"] == "DUPLICATE_VALUE"
    with pytest.raises(SalesforceMalformedRequest) as bad_type:
        sf.toolingexecute("sobjects/CustomField", method="POST",
                          data={"FullName": "Lead.Odd__c", "Metadata": {"type": "Hologram", "label": "Odd"}})
    assert bad_type.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"

    handle.stop()
    again = fresh(handle.state_dir)
    sf = connect(again)
    assert sf.Lead.get(lead)["Touch_Note__c"] == "from the form"
    assert "Touch_Note__c" in {f["name"] for f in sf.Lead.describe()["fields"]}
