"""The public form of request rows: addresses cut to the building, numbers and names masked, sensitive texts hidden."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridgis import grid
from gridgis.privacy import (
    WITHHELD_COLUMNS,
    hide_sensitive_texts,
    public_requests,
    scrub_text,
    truncate_addresses,
)


@pytest.mark.parametrize(("raw", "public"), [
    ("成都市武侯区锦华社区锦城花园5栋", "成都市武侯区锦华社区锦城花园5栋"),
    ("锦城花园5栋3单元501室", "锦城花园5栋"),
    ("翠竹苑3幢3单元", "翠竹苑3幢"),
    ("玉华东苑3号楼2单元", "玉华东苑3号楼"),
    ("清水湾B座1202", "清水湾B座"),
    ("十二栋201", "十二栋"),
    ("四川省成都市武侯区紫荆巷96号旁边", "四川省成都市武侯区紫荆巷旁边"),
    ("成都市武侯区桂溪路252号锦华小学", "成都市武侯区桂溪路锦华小学"),
    ("锦华路1号", "锦华路"),
    ("桂溪路5号院2栋", "桂溪路5号院2栋"),
    ("蓝天小区12楼1203", "蓝天小区"),
    ("锦华小区3-2-501", "锦华小区"),
    ("芳华街道锦华社区芳华苑", "芳华街道锦华社区芳华苑"),
])
def test_truncate_addresses_keeps_estate_and_building_only(raw, public):
    assert truncate_addresses(pd.Series([raw])).iloc[0] == public


def test_truncate_addresses_missing_and_empty_stay_missing():
    out = truncate_addresses(pd.Series([None, "", "  ", "3单元501室"], dtype=object))
    assert out.isna().all()


def test_scrub_text_masks_numbers_and_the_rows_own_name():
    texts = pd.Series(["我叫张三丰，电话13812345678，身份证510107199001011234", "座机028-85123456 李四来电",
                       None, "张三反映楼道堆物", "王五说：路灯坏了"])
    names = pd.Series(["张三丰", "李四", "王五", None, "五"])
    out = scrub_text(texts, names).tolist()
    assert out[0] == "我叫张*丰，电话138****5678，身份证510107********1234"
    assert out[1] == "座机028****3456 李*来电"
    assert pd.isna(out[2])
    assert out[3] == "张三反映楼道堆物"  # no name given for this row: another row's name is not searched
    assert out[4] == "王五说：路灯坏了"  # one-character "names" would mask ordinary words


def test_hide_sensitive_texts_uses_the_category_name():
    out = hide_sensitive_texts(pd.Series(["独居老人需要助餐", "路灯不亮"]), pd.Series(["CARE", "FAC"]),
                               {"CARE": "养老与社区服务", "FAC": "市政设施"})
    assert out.tolist() == ["养老与社区服务", "路灯不亮"]


def test_public_requests_drops_personal_columns_and_snaps_to_cell_centres():
    lat, lng = np.array([30.6573, 30.6401]), np.array([104.0657, 104.0512])
    cells = grid.latlng_to_cells(lat, lng, 10)
    frame = pd.DataFrame({
        "id": ["a", "b"], "text": ["张三丰报修：13812345678", "颐年苑2栋1单元有位失能老人"],
        "address": ["锦城花园5栋3单元501室", "颐年苑2栋1单元"], "category": ["FAC", "CARE"],
        "reporter_name": ["张三丰", "李四"], "reporter_phone": ["13812345678", "13900001111"],
        "extra": ['{"身份证":"510107199001011234"}', None], "orig_x": lng, "orig_y": lat,
        "lng": lng, "lat": lat, "cell": cells.astype(np.int64),
    })
    names = {"FAC": "市政设施", "CARE": "养老与社区服务"}
    out = public_requests(frame, category_names=names, snap_points=True)
    assert not set(WITHHELD_COLUMNS) & set(out.columns)
    assert out["text"].tolist() == ["张*丰报修：138****5678", "养老与社区服务"]
    assert out["address"].tolist() == ["锦城花园5栋", "颐年苑2栋"]
    c_lat, c_lng = grid.cell_centers(cells)
    assert np.allclose(out["lng"], c_lng) and np.allclose(out["lat"], c_lat)
    assert np.abs(out["lng"].to_numpy() - lng).max() > 1e-5  # the exact points are gone
    exact = public_requests(frame, category_names=names, snap_points=False)
    assert np.array_equal(exact["lng"], lng) and np.array_equal(exact["lat"], lat)
    assert frame["text"].iloc[0] == "张三丰报修：13812345678"  # the input is left alone
