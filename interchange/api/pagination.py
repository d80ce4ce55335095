"""Page-number pagination for every list: ``?page=N&page_size=M`` (default 50, at most 500).

The answer is ``{"count", "next", "previous", "results"}``; a page past the end is 404 in
the error shape. Lists are ordered by their natural key, so pages are stable.
"""

from rest_framework.pagination import PageNumberPagination

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class StandardPagination(PageNumberPagination):
    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
