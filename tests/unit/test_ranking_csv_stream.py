"""The ranking CSV comes in chunks, so the download streams instead of being built whole."""

from __future__ import annotations

import datetime as dt

from incubator.services.ranking import CSV_ROWS_PER_CHUNK, RankingRow, ranking_csv, ranking_csv_chunks


def test_csv_chunks_join_to_the_whole_file_and_each_holds_at_most_a_chunk_of_rows() -> None:
    submitted = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    rows = [RankingRow(n, f"=Company {n}", "submitted", submitted) for n in range(1, 2 * CSV_ROWS_PER_CHUNK + 2)]

    chunks = list(ranking_csv_chunks(rows, []))
    assert len(chunks) == 3
    assert "".join(chunks) == ranking_csv(rows, [])
    assert all(chunk.count("\r\n") <= CSV_ROWS_PER_CHUNK for chunk in chunks)
    assert "".join(chunks).count("\r\n") == len(rows) + 1  # header and every row, none lost at a boundary
    assert "'=Company 1," in chunks[0]  # still defused against formulas
