from r1mm.types import Answer, Evidence, Finding, Locator


def test_locator_round_trip_keeps_only_set_fields():
    loc = Locator("scan.zip", slice=12, bbox_mm=(10.0, 20.0, 22.5, 31.0))
    d = loc.to_dict()
    assert set(d) == {"source", "slice", "bbox_mm"}
    assert Locator.from_dict(d) == loc


def test_locator_describe_names_the_place_with_units():
    assert Locator("report.pdf", page=2, table=1, cell=(3, 1)).describe() == \
        "report.pdf, page 2, table 1, row 4, col 2"
    assert "12.5–14.0 s" in Locator("call.wav", start_s=12.5, end_s=14.0).describe()
    assert "slice 13" in Locator("ct.zip", slice=12, bbox_mm=(0, 0, 12, 8)).describe()
    assert "12.0×8.0 mm" in Locator("ct.zip", slice=12, bbox_mm=(0, 0, 12, 8)).describe()


def test_evidence_and_finding_survive_json_round_trip():
    f = Finding("ct.nodule", 11.9, "mm", "Nodule 1: 11.9 mm.", Locator("ct.zip", slice=3))
    e = Evidence("E1", f.text, f.locator, 0.5, f)
    back = Evidence.from_dict(e.to_dict())
    assert back.finding == f and back.locator == f.locator and back.id == "E1"
    a = Answer("text [E1]", [e])
    assert a.to_dict()["evidence"][0]["where"] == "ct.zip, slice 4"
