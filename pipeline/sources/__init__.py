"""Where pages come from: the polite HTTP client, feeds, sitemaps, WARC files and the
lake's own raw archive. Each yields pages; none decides what becomes of them."""
