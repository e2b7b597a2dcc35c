"""ETags and If-None-Match (pure functions) and the change-counter triggers."""

from __future__ import annotations

from tiles import changes


def test_etags_name_statement_tile_and_version():
    a = changes.etag("sig", 10, 421, 853, version=5)
    assert a.startswith('W/"') and a.endswith('.5"')
    assert a != changes.etag("sig", 10, 421, 854, version=5)
    assert a != changes.etag("other", 10, 421, 853, version=5)
    assert a != changes.etag("sig", 10, 421, 853, version=6)
    h = changes.etag("sig", 10, 421, 853, data=b"\x1a\x00")
    assert h != changes.etag("sig", 10, 421, 853, data=b"\x1a\x01")


def test_known_version_reads_our_tag_back_from_a_list():
    tag = changes.etag("sig", 3, 1, 2, version=1234567)
    header = f'"other", W/"abc.1", {tag}'
    assert changes.known_version(header, "sig", 3, 1, 2) == 1234567
    assert changes.known_version(header, "sig", 3, 1, 3) is None
    assert changes.known_version(None, "sig", 3, 1, 2) is None
    hashed = changes.etag("sig", 3, 1, 2, data=b"x")
    assert changes.known_version(hashed, "sig", 3, 1, 2) is None


def test_matches_is_weak_comparison():
    tag = changes.etag("sig", 1, 0, 0, version=9)
    assert changes.matches(tag, tag)
    assert changes.matches(tag[2:], tag)          # strong form of the same tag
    assert changes.matches(f'"x", {tag}', tag)
    assert changes.matches("*", tag)
    assert not changes.matches('W/"x.9"', tag)
    assert not changes.matches(None, tag)


def test_every_kind_of_write_statement_bumps_the_counter(tiles_conn):
    def version() -> int:
        return tiles_conn.execute("SELECT sum(n)::int8 FROM sitewatch.tile_change "
                                  "WHERE table_name = 'sitewatch.district'").fetchone()[0]

    seen = [version()]
    tiles_conn.execute("UPDATE sitewatch.district SET name_en = name_en WHERE code = '330106'")
    seen.append(version())
    with tiles_conn.transaction():
        tiles_conn.execute("UPDATE sitewatch.district SET name_en = name_en WHERE false")
        inside = version()
    seen.append(inside)
    assert seen == sorted(seen) and len(set(seen)) == 3
    # A rolled-back write leaves no trace.
    try:
        with tiles_conn.transaction():
            tiles_conn.execute("UPDATE sitewatch.district SET name_en = name_en")
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert version() == seen[-1]


def test_folding_keeps_the_sum_and_writers_do_not_wait(tiles_url, tiles_conn):
    from spatial import db

    def rows_and_sum() -> tuple[int, int]:
        return tiles_conn.execute("SELECT count(*), sum(n)::int8 FROM sitewatch.tile_change "
                                  "WHERE table_name = 'sitewatch.district'").fetchone()

    _, before = rows_and_sum()
    for _ in range(200):  # folds happen on about one statement in 16
        tiles_conn.execute("UPDATE sitewatch.district SET name_en = name_en WHERE false")
    count, after = rows_and_sum()
    assert after == before + 200
    assert count < 150
    # Two open transactions writing the same tracked table: the second does not block.
    with db.connect(tiles_url) as first, db.connect(tiles_url) as second:
        first.execute("UPDATE sitewatch.district SET name_en = name_en WHERE false")
        second.execute("SET lock_timeout = '2s'")
        second.execute("UPDATE sitewatch.district SET name_en = name_en WHERE false")
        second.commit()
        first.commit()
    assert rows_and_sum()[1] == after + 2
