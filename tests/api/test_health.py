def test_healthz_reports_database_and_postgis(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok"
    assert body["postgis"].startswith("3.")
    assert body["migration"] >= 1


def test_viewer_page_links_the_feeds(client):
    page = client.get("/").get_data(as_text=True)
    assert "SiteWatch" in page and "/ogc/collections/projects/items" in page
