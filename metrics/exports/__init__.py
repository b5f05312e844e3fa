"""Response exports: CSV streamed, XLSX in constant memory, big ones written by a worker.

One column list drives every output. CSV rows come from `COPY (SELECT ...) TO STDOUT`: the
database formats and escapes every cell (the ORM builds the query, with the same filters as the
reports), Python only forwards bytes. XLSX rows come from the same query's text cells and typed
values (numbers, dates) through openpyxl's write-only mode, which streams rows to disk.

Text cells that start with `=`, `+`, `-`, `@`, tab or carriage return get a leading single quote
so a spreadsheet never evaluates them (formula injection, OWASP "CSV injection"); `sql._Escape`
is the one definition of that rule, applied in SQL for both formats.

Modules: `columns` (options, columns, the queryset), `sql` (the COPY query and XLSX rows),
`files` (CSV and XLSX outputs), `background` (jobs run by a worker), `notify` (the email to the
requester), `storage` (finished files: download and expiry).
"""
