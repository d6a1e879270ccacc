"""Walk MLflow's paged search results to the end (a single page stops at the server's default)."""


def all_pages(search, **kwargs) -> list:
    """Every item of `search(**kwargs, page_token=...)`, following `token` until there is none."""
    items, token = [], None
    while True:
        page = search(**kwargs, page_token=token)
        items.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return items
