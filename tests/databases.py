"""Database helpers shared by tests that start other processes."""

from urllib.parse import quote, urlencode


def database_url(connection) -> str:
    """A connection's database as a DATABASE_URL for another process; `host` may be a socket
    directory (the embedded server), so it goes in the query string."""
    params = connection.get_connection_params()
    auth = quote(params.get("user") or "", safe="")
    if params.get("password"):
        auth += ":" + quote(params["password"], safe="")
    host = params.get("host") or "127.0.0.1"
    where = urlencode({"host": host, "port": params.get("port") or 5432})
    return f"postgres://{auth}@/{params['dbname']}?{where}"
