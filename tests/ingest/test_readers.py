"""Readers: formats, encodings, delimiters, line numbers, chunking and clear errors on bad files."""

from __future__ import annotations

import datetime as dt
import zipfile

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely

from gridgis.errors import InvalidInputError, UnsupportedFormatError
from gridgis.ingest.readers import FIELD_COUNT_REASON, detect_format, iter_chunks, read_table

HEADER = "工单编号,诉求内容,事发地址,经度,纬度,受理时间"
ROWS = [
    '00123,"小区门口垃圾堆放,无人清理",成都市武侯区玉林路1号,104.0657,30.6573,2024-01-06 12:09:38',
    "00124,楼道灯坏了,成都市锦江区春熙路2号,104.0812,30.6571,2024/1/7 08:30",
    "00125,噪音扰民,,104.1003,30.6602,2024年1月8日 22时",
]


def write(path, text: str, encoding: str = "utf-8") -> str:
    path.write_bytes(text.encode(encoding))
    return str(path)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.csv", "csv"), ("a.TXT", "csv"), ("a.tsv", "csv"), ("a.xlsx", "xlsx"), ("a.xlsm", "xlsx"),
     ("a.geojson", "geojson"), ("a.json", "geojson"), ("a.gpkg", "gpkg"), ("a.shp", "shp"), ("a.zip", "shp")],
)
def test_detect_format_by_suffix(name, fmt):
    assert detect_format(name) == fmt


def test_unknown_suffix_names_file_and_supported_formats():
    with pytest.raises(UnsupportedFormatError) as err:
        detect_format("工单.docx")
    assert "工单.docx" in str(err.value) and ".csv" in str(err.value) and ".gpkg" in str(err.value)
    with pytest.raises(UnsupportedFormatError, match="xlsx"):
        iter_chunks("old.xls")  # raised at call time, not at first iteration


def test_missing_file(tmp_path):
    with pytest.raises(InvalidInputError) as err:
        iter_chunks(tmp_path / "nope.csv")
    assert err.value.field == "file" and "nope.csv" in str(err.value)


# ------------------------------------------------------------------------------------------------ CSV
def test_utf8_csv_keeps_strings_quotes_and_empty_as_na(tmp_path):
    t = read_table(write(tmp_path / "a.csv", "\n".join([HEADER, *ROWS]) + "\n"))
    assert t.format == "csv" and t.encoding == "utf-8" and t.file_crs is None and t.geometry_lng is None
    assert list(t.frame.columns) == HEADER.split(",")
    assert t.frame["工单编号"].tolist() == ["00123", "00124", "00125"]  # never 123
    assert t.frame["诉求内容"].iloc[0] == "小区门口垃圾堆放,无人清理"
    assert pd.isna(t.frame["事发地址"].iloc[2])
    assert t.frame["经度"].iloc[0] == "104.0657"
    assert t.lines.dtype == np.int64 and t.lines.tolist() == [2, 3, 4]
    assert t.problems == []


def test_bom_is_detected_and_stripped(tmp_path):
    t = read_table(write(tmp_path / "a.csv", "\ufeff" + "\n".join([HEADER, *ROWS])))
    assert t.encoding == "utf-8-sig"
    assert t.frame.columns[0] == "工单编号"
    assert len(t.frame) == 3


def test_gbk_file_is_read_as_gb18030(tmp_path):
    t = read_table(write(tmp_path / "a.csv", "\r\n".join([HEADER, *ROWS]) + "\r\n", "gbk"))
    assert t.encoding == "gb18030"
    assert t.frame["诉求内容"].tolist()[1] == "楼道灯坏了"
    assert t.lines.tolist() == [2, 3, 4]


def test_gb18030_only_characters(tmp_path):
    text = "编号,地址\n1,㵘水街𠀀号\n2,玉林路\n"
    with pytest.raises(UnicodeEncodeError):
        text.encode("gbk")  # the fixture really needs GB18030
    t = read_table(write(tmp_path / "a.csv", text, "gb18030"))
    assert t.encoding == "gb18030"
    assert t.frame["地址"].tolist() == ["㵘水街𠀀号", "玉林路"]


def test_utf16_excel_unicode_text_export(tmp_path):
    text = "编号\t地址\n1\t玉林路\n"
    t = read_table(write(tmp_path / "a.txt", text, "utf-16"))
    assert t.encoding == "utf-16"
    assert t.frame["地址"].tolist() == ["玉林路"]


@pytest.mark.parametrize("delimiter", ["\t", ";", "|"])
def test_delimiters_are_sniffed(tmp_path, delimiter):
    lines = ["编号{d}内容{d}经度", "1{d}\"a,b;c|d\"{d}104.06", "2{d}x{d}104.07"]
    t = read_table(write(tmp_path / "a.csv", "\n".join(x.format(d=delimiter) for x in lines)))
    assert list(t.frame.columns) == ["编号", "内容", "经度"]
    assert t.frame["内容"].tolist() == ["a,b;c|d", "x"]


def test_explicit_delimiter_and_encoding_win(tmp_path):
    path = write(tmp_path / "a.csv", "编号;内容,附注\n1;a,b\n", "gbk")
    t = read_table(path, delimiter=";", encoding="gbk")
    assert list(t.frame.columns) == ["编号", "内容,附注"] and t.encoding == "gbk"
    with pytest.raises(UnsupportedFormatError) as err:
        read_table(path, encoding="utf-8")
    assert err.value.field == "encoding" and "--encoding gb18030" in str(err.value)
    with pytest.raises(UnsupportedFormatError, match="klingon"):
        iter_chunks(path, encoding="klingon")
    with pytest.raises(InvalidInputError):
        iter_chunks(path, delimiter=";;")


def test_line_numbers_with_quoted_newlines_blank_and_ragged_rows(tmp_path):
    text = (
        "编号,内容,经度\n"          # 1
        "1,\"第一行\n第二行\",104.1\n"  # 2-3
        "\n"                        # 4 blank: skipped, numbering kept
        "2,x\n"                     # 5 too few fields
        "3,y,104.2,多余\n"          # 6 too many fields
        "4,\"a\r\nb\r\nc\",104.3\n"  # 7-9
        ",,\n"                      # 10 empty row
        "5,z,104.4\n"               # 11
    )
    t = read_table(write(tmp_path / "a.csv", text))
    assert t.frame["编号"].tolist() == ["1", "4", "5"]
    assert t.lines.tolist() == [2, 7, 11]
    assert [(p.line, p.reason, p.raw["found"]) for p in t.problems] == [
        (5, FIELD_COUNT_REASON, 2), (6, FIELD_COUNT_REASON, 4)]
    assert t.problems[1].value == "3,y,104.2,多余"


def test_title_rows_above_header_are_skipped(tmp_path):
    text = "2024年1月12345工单明细,,\n\n编号,内容,经度\n1,a,104.1\n"
    t = read_table(write(tmp_path / "a.csv", text))
    assert list(t.frame.columns) == ["编号", "内容", "经度"]
    assert t.lines.tolist() == [4]


def test_empty_and_header_only_files_give_zero_rows(tmp_path):
    empty = read_table(write(tmp_path / "empty.csv", ""))
    assert len(empty.frame) == 0 and len(empty.lines) == 0
    head = read_table(write(tmp_path / "head.csv", HEADER))
    assert list(head.frame.columns) == HEADER.split(",") and len(head.frame) == 0
    head_nl = read_table(write(tmp_path / "head2.csv", HEADER + "\r\n\r\n"))
    assert len(head_nl.frame) == 0


def test_missing_header_is_an_error(tmp_path):
    with pytest.raises(InvalidInputError) as err:
        read_table(write(tmp_path / "a.csv", "\n".join(ROWS)))
    assert err.value.field == "header" and err.value.line == 1


def test_duplicate_and_blank_headers_get_unique_names(tmp_path):
    t = read_table(write(tmp_path / "a.csv", "备注,编号,备注,\n1,2,3,4\n"))
    assert list(t.frame.columns) == ["备注", "编号", "备注.1", "unnamed_4"]


def test_chunking_120k_rows_equals_whole_read(tmp_path):
    n = 120_000
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({
        "工单编号": [f"{i:07d}" for i in range(n)],
        "诉求内容": np.where(np.arange(n) % 1000 == 0, "多行\n内容", "楼道灯坏了"),
        "经度": np.round(rng.uniform(103.9, 104.2, n), 6).astype(str),
    })
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    chunks = list(iter_chunks(path, chunk_rows=50_000))
    assert [len(c) for c in chunks] == [50_000, 50_000, 20_000]
    whole = read_table(path, chunk_rows=n + 1)
    joined = pd.concat([c.frame for c in chunks], ignore_index=True)
    pd.testing.assert_frame_equal(joined, whole.frame)
    lines = np.concatenate([c.lines for c in chunks])
    np.testing.assert_array_equal(lines, whole.lines)
    # one extra physical line per embedded newline (rows 0, 1000, … hold one)
    expected = 2 + np.arange(n) + np.ceil(np.arange(n) / 1000).astype(np.int64)
    np.testing.assert_array_equal(lines, expected)
    assert joined["工单编号"].iloc[-1] == "0119999"


def test_utf8_file_with_broken_gbk_line_in_sample(tmp_path):
    good = "\n".join([HEADER, *ROWS]).encode("utf-8") + b"\n"
    bad = "00126,窨井盖缺失,成都市,104.1,30.6,2024-01-09".encode("gbk") + b"\n"
    path = tmp_path / "mixed.csv"
    path.write_bytes(good + bad + good.split(b"\n", 1)[1])
    with pytest.raises(UnsupportedFormatError) as err:
        read_table(path)
    assert err.value.line == 5 and "mixed.csv" in str(err.value) and "--encoding" in str(err.value)


def test_utf8_file_with_broken_gbk_line_after_the_sample(tmp_path):
    row = "00200,小区门口垃圾堆放很久没人清理,成都市武侯区玉林路1号,104.0657,30.6573,2024-01-06\n"
    n_good = 20_000  # > 1 MiB, so the bad line is met by the streaming parser, not the sniffer
    bad = "00126,窨井盖缺失,成都市,104.1,30.6,2024-01-09\n".encode("gbk")
    path = tmp_path / "mixed.csv"
    path.write_bytes((HEADER + "\n" + row * n_good).encode() + bad + row.encode())
    assert path.stat().st_size > 1 << 20
    with pytest.raises(UnsupportedFormatError) as err:
        for _ in iter_chunks(path, chunk_rows=5_000):
            pass
    assert err.value.line == n_good + 2
    assert "gb18030" in str(err.value)


# ----------------------------------------------------------------------------------------------- XLSX
@pytest.fixture
def workbook(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "说明"
    ws.append(["本表为 2024 年 1 月工单"])
    data = wb.create_sheet("工单")
    data.append(["2024年1月12345工单明细"])  # title row, merged in real exports
    data.append(["工单编号", "诉求内容", "受理时间", "经度", "序号"])
    data.append(["00123", "垃圾堆放", dt.datetime(2024, 1, 6, 12, 9, 38), 104.0657, 1])
    data.append([None, None, None, None, None])  # empty row 4: skipped, numbering kept
    data.append(["00124", "路灯不亮", 45297.5, "104.0812", 2])
    data["A7"] = "00125"
    data["B7"] = "  噪音  "
    path = tmp_path / "工单.xlsx"
    wb.save(path)
    return path


def test_xlsx_sheet_by_name_and_index(workbook):
    by_name = read_table(workbook, sheet="工单")
    by_index = read_table(workbook, sheet=1)
    pd.testing.assert_frame_equal(by_name.frame, by_index.frame)
    t = by_name
    assert t.format == "xlsx" and t.encoding is None
    assert list(t.frame.columns) == ["工单编号", "诉求内容", "受理时间", "经度", "序号"]
    assert t.lines.tolist() == [3, 5, 7]
    assert t.frame["工单编号"].tolist() == ["00123", "00124", "00125"]
    assert t.frame["受理时间"].iloc[0] == dt.datetime(2024, 1, 6, 12, 9, 38)
    assert t.frame["受理时间"].iloc[1] == 45297.5  # serial kept as openpyxl gives it
    assert t.frame["经度"].tolist()[:2] == [104.0657, "104.0812"]
    assert t.frame["诉求内容"].iloc[2] == "  噪音  "
    assert pd.isna(t.frame["受理时间"].iloc[2])


def test_xlsx_first_sheet_by_default_and_unknown_sheet(workbook):
    first = read_table(workbook)
    assert list(first.frame.columns) == ["本表为 2024 年 1 月工单"] and len(first.frame) == 0
    with pytest.raises(InvalidInputError) as err:
        read_table(workbook, sheet="二月")
    assert err.value.field == "sheet" and "说明" in str(err.value) and "工单" in str(err.value)


def test_xlsx_chunks(workbook):
    chunks = list(iter_chunks(workbook, sheet="工单", chunk_rows=2))
    assert [c.lines.tolist() for c in chunks] == [[3, 5], [7]]


@pytest.mark.parametrize("content", [b"not a zip at all", b"PK\x03\x04broken"])
def test_corrupt_xlsx(tmp_path, content):
    path = tmp_path / "坏.xlsx"
    path.write_bytes(content)
    with pytest.raises(UnsupportedFormatError) as err:
        read_table(path)
    assert "坏.xlsx" in str(err.value) and "CSV" in str(err.value)


# ------------------------------------------------------------------------------------------ geo files
def _points(crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    gdf = gpd.GeoDataFrame(
        {"工单号": ["001", "002", "003", "004"], "类别": ["垃圾", "路灯", "噪音", "井盖"], "n": [1, 2, 3, 4]},
        geometry=[shapely.Point(104.0657, 30.6573), None,
                  shapely.LineString([(104.0, 30.6), (104.1, 30.7)]), shapely.MultiPoint([(104.1, 30.7)])],
        crs="EPSG:4326",
    )
    return gdf.to_crs(crs)


def test_geojson_points(tmp_path):
    path = tmp_path / "巡查.geojson"
    _points().to_file(path)
    t = read_table(path)
    assert t.format == "geojson" and t.file_crs == "EPSG:4326"
    assert t.lines.tolist() == [1, 2, 3, 4]
    assert t.frame["工单号"].tolist() == ["001", "002", "003", "004"]
    np.testing.assert_allclose(t.geometry_lng, [104.0657, np.nan, np.nan, 104.1])
    np.testing.assert_allclose(t.geometry_lat, [30.6573, np.nan, np.nan, 30.7])
    assert t.geometry_lng.dtype == np.float64


def test_gpkg_layers_and_projected_crs(tmp_path):
    path = tmp_path / "巡查.gpkg"
    _points("EPSG:4544").to_file(path, layer="巡查点")
    _points("EPSG:4490").iloc[:1].to_file(path, layer="cgcs2000")
    first = read_table(path)
    assert first.file_crs == "EPSG:4544" and first.format == "gpkg"
    x, y = _points("EPSG:4544").geometry.iloc[0].coords[0]
    assert first.geometry_lng[0] == pytest.approx(x) and first.geometry_lat[0] == pytest.approx(y)
    second = read_table(path, sheet="cgcs2000")
    assert second.file_crs == "EPSG:4490" and len(second.frame) == 1
    assert read_table(path, sheet=1).file_crs == "EPSG:4490"
    with pytest.raises(InvalidInputError, match="巡查点"):
        read_table(path, sheet="nope")


def test_shapefile_and_zipped_shapefile(tmp_path):
    path = tmp_path / "points.shp"
    _points("EPSG:4544").iloc[[0, 1]].to_file(path, encoding="utf-8")
    t = read_table(path)
    assert t.format == "shp" and t.file_crs == "EPSG:4544" and t.frame["类别"].tolist() == ["垃圾", "路灯"]
    zpath = tmp_path / "points.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for ext in ("shp", "shx", "dbf", "prj", "cpg"):
            zf.write(path.with_suffix("." + ext), "points." + ext)
    z = read_table(zpath)
    pd.testing.assert_frame_equal(z.frame, t.frame)
    np.testing.assert_allclose(z.geometry_lng, t.geometry_lng)


def test_gbk_shapefile_without_cpg(tmp_path):
    path = tmp_path / "gbk.shp"
    _points().iloc[[0]].to_file(path, encoding="GBK")
    path.with_suffix(".cpg").unlink()
    dbf = bytearray(path.with_suffix(".dbf").read_bytes())
    dbf[29] = 0  # no code page mark either, like many ArcGIS exports in China
    path.with_suffix(".dbf").write_bytes(bytes(dbf))
    t = read_table(path)
    assert t.frame["类别"].tolist() == ["垃圾"] and t.encoding == "gb18030"


def test_empty_geojson(tmp_path):
    path = tmp_path / "empty.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    t = read_table(path)
    assert len(t.frame) == 0 and t.file_crs == "EPSG:4326" and len(t.geometry_lng) == 0


def test_corrupt_geojson(tmp_path):
    path = tmp_path / "坏.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    with pytest.raises(UnsupportedFormatError, match="坏.geojson"):
        read_table(path)


def test_trailing_delimiter_on_data_rows_only(tmp_path):
    t = read_table(write(tmp_path / "a.csv", "编号,内容\n1,a,\n2,b,\n"))
    assert t.frame["内容"].tolist() == ["a", "b"] and t.problems == []
    assert list(t.frame.columns) == ["编号", "内容", "unnamed_3"] and t.frame["unnamed_3"].isna().all()
