"""Streaming parsers: CSV and NDJSON rows, every kind of bad row, gzip, BOM, chunking."""

from __future__ import annotations

import gzip
import zlib

import pytest
from catalog_sync.sources import (
    Parsed,
    Refused,
    Row,
    SourceError,
    SourceOptions,
    Summary,
    open_parser,
    parse_bytes,
)
from pydantic import ValidationError

CHUNK_SIZES = (1, 7, 1 << 16)

# One CSV with every kind of bad row between good ones; line numbers in the comments.
MESSY_CSV = (
    b"product_id,name,price\r\n"  # 1 (CRLF line endings throughout)
    b"a,Apple,1\r\n"  # 2
    b'b,"Banana\r\nsplit, ripe",2\r\n'  # 3-4: a quoted line break
    b"c,Cherry\r\n"  # 5: one field short
    b"d,Date,4,extra\r\n"  # 6: one field too many
    b"a,Apple again,5\r\n"  # 7: duplicate of line 2
    b",No id,6\r\n"  # 8: no product_id
    b"e,Elder\xffberry,7\r\n"  # 9: not UTF-8
    b'f,"Fig" tree,8\r\n'  # 10: text after a closing quote
    b"\r\n"  # 11: blank
    b'g,"Grape,9\r\n'  # 12: a quote never closed...
    b"h,Hazelnut,10\r\n"  # 13: ...and the file goes on
    b"i,Ice,11"  # 14: no final newline
)


def _rows(items: list[Parsed]) -> list[Row]:
    return [i for i in items if isinstance(i, Row)]


def _refused(items: list[Parsed]) -> list[Refused]:
    return [i for i in items if isinstance(i, Refused)]


def _parse(
    fmt: str, data: bytes, chunk: int = 1 << 16, **options: object
) -> tuple[list[Parsed], Summary]:
    return parse_bytes(fmt, data, SourceOptions.model_validate(options), chunk_size=chunk)


def test_csv_rows_keep_their_first_line_and_quoted_line_breaks() -> None:
    items, summary = _parse("csv", MESSY_CSV)
    rows = {r.data["product_id"]: r for r in _rows(items)}
    assert sorted(rows) == ["a", "b", "h", "i"]
    assert rows["a"] == Row(2, {"product_id": "a", "name": "Apple", "price": "1"})
    assert rows["b"].line == 3
    assert rows["b"].data["name"] == "Banana\r\nsplit, ripe"
    assert rows["h"].line == 13
    assert rows["i"] == Row(14, {"product_id": "i", "name": "Ice", "price": "11"})
    assert summary.lines == 14
    assert summary.blank_lines == 1


def test_every_kind_of_bad_row_is_refused_with_its_line_and_reason() -> None:
    items, summary = _parse("csv", MESSY_CSV)
    refused = {r.line: r for r in _refused(items)}
    assert sorted(refused) == [5, 6, 7, 8, 9, 10, 12]
    assert refused[5].code == "field_count"
    assert refused[5].reason == "field_count: 2 fields where the header has 3"
    assert refused[5].product_id == "c"
    assert refused[6].code == "field_count"
    assert "4 fields" in refused[6].reason
    assert refused[7] == Refused(7, "duplicate_product_id: product_id already on line 2", "a")
    assert refused[8].code == "missing_product_id"
    assert refused[9].code == "invalid_utf8"
    assert refused[9].product_id == "e"
    assert refused[10].code == "broken_quote"
    assert refused[12].code == "broken_quote"
    assert "opened on line 12" in refused[12].reason
    assert "resumed on line 13" in refused[12].reason
    assert summary.rows_read == 11
    assert summary.emitted == 4
    assert dict(summary.refused) == {
        "field_count": 2,
        "duplicate_product_id": 1,
        "missing_product_id": 1,
        "invalid_utf8": 1,
        "broken_quote": 2,
    }
    # Nothing silently dropped: every record read is either kept or refused.
    assert summary.rows_read == summary.emitted + summary.refused_total
    assert summary.as_dict()["refused"] == 7


def test_an_unterminated_quote_does_not_swallow_the_rest_of_the_file() -> None:
    lines = [b"product_id,name", b'x,"never closed']
    lines += [f"p{i},name {i}".encode() for i in range(50)]
    items, summary = _parse("csv", b"\n".join(lines) + b"\n")
    refused = _refused(items)
    assert [(r.line, r.code) for r in refused] == [(2, "broken_quote")]
    assert "read up to line 52" in refused[0].reason
    rows = _rows(items)
    assert [r.line for r in rows] == list(range(3, 53))
    assert rows[0].data == {"product_id": "p0", "name": "name 0"}
    assert summary.emitted == 50


def test_an_open_quote_is_given_up_after_max_record_bytes_without_waiting_for_close() -> None:
    parser = open_parser("csv", SourceOptions(max_record_bytes=4096))
    first = parser.feed(b'product_id,name\nx,"never closed\n')
    body = b"".join(f"p{i:05d},name {i}\n".encode() for i in range(5000))
    early: list[Parsed] = []
    for start in range(0, len(body), 1000):
        early += parser.feed(body[start : start + 1000])
    # Before close, the open record was refused and the lines after it came out as rows.
    assert first == []
    assert [(r.line, r.code) for r in _refused(early)] == [(2, "broken_quote")]
    assert len(_rows(early)) > 4000
    rest = parser.close()
    assert len(_rows(early + rest)) == 5000
    assert parser.summary.rows_read == 5001


def test_rows_come_out_as_their_chunks_arrive() -> None:
    parser = open_parser("csv")
    assert parser.feed(b"product_id,name\na,A") == []  # the header; line 2 not complete yet
    assert parser.feed(b"pple\nb,B") == [Row(2, {"product_id": "a", "name": "Apple"})]
    assert parser.feed(b'\nc,"C\n') == [Row(3, {"product_id": "b", "name": "B"})]
    assert parser.close() == [
        Refused(
            4,
            "broken_quote: a quoted field opened on line 4 is not closed properly "
            "(unexpected end of data, read up to line 4); parsing resumed on line 5",
        )
    ]


def test_a_record_spanning_many_chunks_is_read_whole() -> None:
    description = "line\n" * 2000
    data = f'product_id,description\nlong,"{description}"\nnext,ok\n'.encode()
    for chunk in (1, 7, 100, 1 << 16):
        items, _ = _parse("csv", data, chunk)
        assert items == [
            Row(2, {"product_id": "long", "description": description}),
            Row(2003, {"product_id": "next", "description": "ok"}),
        ]


def test_a_quoted_line_break_in_the_last_record_without_final_newline() -> None:
    items, _ = _parse("csv", b'product_id,name\nz,"two\nlines"')
    assert items == [Row(2, {"product_id": "z", "name": "two\nlines"})]


def test_column_mapping_copies_into_product_id_and_keeps_the_source_column() -> None:
    data = b"SKU,Parent,Title\nS1,P1,Shirt\n,P1,No sku\nS9,P9,Cap,oops\n"
    items, _ = _parse("csv", data, columns={"SKU": "product_id", "Parent": "parent_id"})
    assert items[0] == Row(
        2,
        {"SKU": "S1", "Parent": "P1", "Title": "Shirt", "product_id": "S1", "parent_id": "P1"},
    )
    assert items[1].line == 3
    assert isinstance(items[1], Refused) and items[1].code == "missing_product_id"
    # A refused row names the mapped product_id when its fields allow it.
    assert isinstance(items[2], Refused) and items[2].product_id == "S9"


@pytest.mark.parametrize(("delimiter", "sep"), [(";", b";"), ("\t", b"\t"), ("\\t", b"\t")])
def test_delimiter_option(delimiter: str, sep: bytes) -> None:
    data = sep.join([b"product_id", b"price"]) + b"\n" + sep.join([b"a", b'"1,5"']) + b"\n"
    items, _ = _parse("csv", data, delimiter=delimiter)
    assert items == [Row(2, {"product_id": "a", "price": "1,5"})]


def test_header_names_are_trimmed_blank_ones_numbered_duplicates_refused() -> None:
    items, _ = _parse("csv", b" product_id ,,name\na,x,b\n")
    assert items == [Row(2, {"product_id": "a", "column_2": "x", "name": "b"})]
    with pytest.raises(SourceError, match="names a column twice: name"):
        _parse("csv", b"product_id,name,name\na,b,c\n")


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\xef\xbb\xbf"])
def test_a_csv_without_header_is_unreadable(data: bytes) -> None:
    with pytest.raises(SourceError, match="no header"):
        _parse("csv", data)


def test_a_broken_header_is_unreadable() -> None:
    with pytest.raises(SourceError, match="header"):
        _parse("csv", b'product_id,"name"x\na,b\n')
    with pytest.raises(SourceError, match="not UTF-8"):
        _parse("csv", b"product_id,n\xffame\na,b\n")


def test_leading_blank_lines_before_the_header() -> None:
    items, summary = _parse("csv", b"\n\nproduct_id\na\n")
    assert items == [Row(4, {"product_id": "a"})]
    assert summary.blank_lines == 2


@pytest.mark.parametrize("chunk", CHUNK_SIZES)
def test_chunking_never_changes_the_output(chunk: int) -> None:
    reference, summary = _parse("csv", MESSY_CSV, 1 << 20)
    items, chunked = _parse("csv", MESSY_CSV, chunk)
    assert items == reference
    assert chunked == summary


def test_bom_is_stripped_and_changes_nothing() -> None:
    plain, _ = _parse("csv", MESSY_CSV)
    for chunk in CHUNK_SIZES:
        with_bom, _ = _parse("csv", b"\xef\xbb\xbf" + MESSY_CSV, chunk)
        assert with_bom == plain
    assert "product_id" in _rows(plain)[0].data


@pytest.mark.parametrize("chunk", CHUNK_SIZES)
def test_gzip_is_detected_and_gives_the_same_rows(chunk: int) -> None:
    plain, summary = _parse("csv", MESSY_CSV)
    for data in (
        gzip.compress(MESSY_CSV),
        gzip.compress(b"\xef\xbb\xbf" + MESSY_CSV),
        # Concatenated members (`cat a.gz b.gz`) are one file.
        gzip.compress(MESSY_CSV[:100]) + gzip.compress(MESSY_CSV[100:]),
    ):
        items, zipped = _parse("csv", data, chunk)
        assert items == plain
        assert zipped == summary


def test_a_gzip_bomb_is_inflated_step_by_step() -> None:
    body = b"product_id\n" + b"".join(f"{i}\n".encode() for i in range(300_000))
    data = gzip.compress(body, 9)
    parser = open_parser("csv")
    total = 0
    for start in range(0, len(data), 1 << 16):
        total += len(parser.feed(data[start : start + (1 << 16)]))
    total += len(parser.close())
    assert total == 300_000


def test_a_truncated_or_corrupt_gzip_makes_the_upload_unreadable() -> None:
    data = gzip.compress(MESSY_CSV)
    with pytest.raises(SourceError, match="truncated"):
        _parse("csv", data[:-12])
    corrupt = data[:20] + bytes(b ^ 0xFF for b in data[20:40]) + data[40:]
    with pytest.raises(SourceError, match="corrupt"):
        _parse("csv", corrupt)


def test_zlib_wbits_47_reads_what_gzip_writes() -> None:
    # The detection relies on the gzip magic bytes; zlib's auto-detect then inflates it.
    data = gzip.compress(b"x")
    assert data[:2] == b"\x1f\x8b"
    assert zlib.decompressobj(wbits=47).decompress(data) == b"x"


def test_a_line_longer_than_max_line_bytes_makes_the_upload_unreadable() -> None:
    parser = open_parser("csv", SourceOptions(max_line_bytes=1024))
    parser.feed(b"product_id\n")
    with pytest.raises(SourceError, match="line 2 is longer than 1024 bytes"):
        for _ in range(10):
            parser.feed(b"x" * 200)


def test_feeding_after_close_is_an_error() -> None:
    parser = open_parser("ndjson")
    parser.close()
    with pytest.raises(SourceError):
        parser.feed(b"{}")


def test_duplicates_check_can_be_turned_off() -> None:
    items, _ = _parse("csv", b"product_id\na\na\n", check_duplicates=False)
    assert items == [Row(2, {"product_id": "a"}), Row(3, {"product_id": "a"})]


def test_options_are_validated() -> None:
    with pytest.raises(ValidationError):
        SourceOptions.model_validate({"delimiter": ";;"})
    with pytest.raises(ValidationError):
        SourceOptions.model_validate({"encoding": "latin-1"})
    with pytest.raises(ValueError, match="unknown source format 'xml'"):
        open_parser("xml")
    assert isinstance(open_parser("csv", {"delimiter": ";"}), type(open_parser("csv")))


# --- NDJSON ---------------------------------------------------------------------------

NDJSON = (
    b'{"product_id": "A1", "price": 12.50, "qty": 3, "big": 12345678901234567890, '
    b'"tags": ["red", 2, null, true], "on_sale": false, "gtin": null, '
    b'"sku": {"price": 9.90, "sales_attribute": {"Color": "Red"}}, "name": "Caf\xc3\xa9"}\n'
    b"\n"  # 2: blank
    b"[1, 2]\n"  # 3: not an object
    b'{"product_id": "A2", oops}\n'  # 4: invalid JSON
    b'{"product_id": "A3", "name": "bad \xff byte"}\n'  # 5: not UTF-8
    b'{"name": "no id"}\n'  # 6
    b'{"product_id": "A1"}\n'  # 7: duplicate of line 1
    b'{"product_id": 42, "name": "numeric id"}\r\n'  # 8: CRLF, numeric id
    b"   \n"  # 9: blank
    b'{"product_id": "A4"}'  # 10: no final newline
)


def test_ndjson_values_become_strings_as_written() -> None:
    items, _ = _parse("ndjson", NDJSON)
    first = items[0]
    assert first == Row(
        1,
        {
            "product_id": "A1",
            "price": "12.50",
            "qty": "3",
            "big": "12345678901234567890",
            "tags": "red#2#true",
            "on_sale": "false",
            "gtin": "",
            "sku.price": "9.90",
            "sku.sales_attribute.Color": "Red",
            "name": "Café",
        },
    )


def test_ndjson_bad_lines_are_refused_with_their_line() -> None:
    items, summary = _parse("ndjson", NDJSON)
    assert [(i.line, i.code) for i in _refused(items)] == [
        (3, "not_an_object"),
        (4, "invalid_json"),
        (5, "invalid_utf8"),
        (6, "missing_product_id"),
        (7, "duplicate_product_id"),
    ]
    assert "line 1" in _refused(items)[4].reason
    assert [(r.line, r.data["product_id"]) for r in _rows(items)] == [
        (1, "A1"),
        (8, "42"),
        (10, "A4"),
    ]
    assert summary.as_dict() == {
        "lines": 10,
        "rows_read": 8,
        "emitted": 3,
        "merged": 0,
        "blank_lines": 2,
        "refused": 5,
        "refused_by_reason": {
            "duplicate_product_id": 1,
            "invalid_json": 1,
            "invalid_utf8": 1,
            "missing_product_id": 1,
            "not_an_object": 1,
        },
    }


@pytest.mark.parametrize("chunk", CHUNK_SIZES)
def test_ndjson_chunking_gzip_and_bom_change_nothing(chunk: int) -> None:
    reference, _ = _parse("ndjson", NDJSON, 1 << 20)
    assert _parse("ndjson", NDJSON, chunk)[0] == reference
    assert _parse("ndjson", gzip.compress(b"\xef\xbb\xbf" + NDJSON), chunk)[0] == reference


def test_ndjson_column_mapping() -> None:
    items, _ = _parse("ndjson", b'{"id": 7, "group": "G"}\n', columns={"id": "product_id"})
    assert items == [Row(1, {"id": "7", "group": "G", "product_id": "7"})]


def test_empty_ndjson_upload_has_no_rows() -> None:
    items, summary = _parse("ndjson", b"")
    assert items == []
    assert summary.rows_read == 0
