"""A task given a client that holds an ``ssl.SSLContext``, as HTTP and API clients
do; then the same client made once in each worker by the pool's initializer."""

import ssl

from _producer import report, start_context

HOST = "api.example.com"


class ApiClient:
    """What an HTTP or API client keeps between requests: a TLS context."""

    def __init__(self, host):
        self.host = host
        self.tls = ssl.create_default_context()

    def url(self, path):
        return f"https://{self.host}{path}"


def fetch(client, path):
    return client.url(path)


client = None  # this worker's own, made by make_client


def make_client(host):
    global client
    client = ApiClient(host)


def fetch_with_own_client(path):
    return client.url(path), type(client.tls).__name__


if __name__ == "__main__":
    context = start_context()
    with context.Pool(2) as pool:
        try:
            pool.apply(fetch, (ApiClient(HOST), "/items"))
        except Exception as error:
            report(error)
    with context.Pool(2, initializer=make_client, initargs=(HOST,)) as pool:
        fetched = pool.map(fetch_with_own_client, ["/items", "/users", "/orders"])
    print("each worker's own client fetched:", fetched)
