"""The PostgreSQL backend, pointed at this checkout's embedded server (see __init__.py).

The server is started by the first connection a process opens, so commands that never touch
the database (check, collectstatic, makemessages, `embedded_db stop`) never start it.
"""

from django.db.backends.postgresql import base, client

from . import ensure_running, psql_path


class DatabaseClient(client.DatabaseClient):
    """`manage.py dbshell` with the wheel's psql, on the embedded server's socket."""

    @classmethod
    def settings_to_cmd_args_env(cls, settings_dict, parameters):
        running = ensure_running()
        settings_dict = {**settings_dict, "HOST": running.host, "PORT": running.port}
        args, env = super().settings_to_cmd_args_env(settings_dict, parameters)
        return [str(psql_path()), *args[1:]], env


class DatabaseWrapper(base.DatabaseWrapper):
    client_class = DatabaseClient

    def get_connection_params(self):
        params = super().get_connection_params()
        running = ensure_running()
        params["host"] = running.host
        params["port"] = running.port
        return params
