"""Admin change lists over the big tables (responses, invitations) at tens of millions of rows.

- A page shows `LIST_PER_PAGE` (25) rows, not the admin's 100: Django renders each row cell by
  cell (about 0.35 ms a row on a 2-core server, on top of about 17 ms for the page around
  them), so at 100 rows the rendering alone took most of the page's 50 ms budget, and at 50
  rows a loaded server went over it. Each row's checkbox is written directly rather than
  rendered through the form widget templates, which took a quarter of the row's time.
- The page count stops at `COUNT_CAP` rows (ten pages): counting 10 million rows to print
  "page 1 of 200,000" costs more than the page itself, and so does counting the 200,000
  answers whose comment holds a common word. Narrow the list with filters or a search to see
  its exact size; the reports count.
- No "x results (y total)": `show_full_result_count = False` skips the second count.
- The page reads only the columns it shows (`list_columns`), not every column of the row and of
  its survey, contact and account (their JSON properties and texts), and the yes/no columns
  look their icon up once instead of once a cell (`icon_column`); times are written as
  "2026-03-01 09:30" in the staff member's zone (`time_column`), as on the staff pages.
- No filter lists the distinct values of a column of the big table (a full scan each time the
  page opens): the answer category's filter names its three values.
- Searches are rewritten so each term reads an index: the contact's email and the account's
  name become `IN (ids of the matching contacts / accounts)` (small tables), the comment is read
  through its trigram index, an id through its unique index. The admin's default (one OR over
  the joined tables) can only be answered by reading every response.
"""

from __future__ import annotations

import functools
import uuid

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db.models import Q
from django.templatetags.static import static
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, Contact

LIST_PER_PAGE = 25
COUNT_CAP = 10 * LIST_PER_PAGE


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP rows (a bounded read instead of a full count), in whatever
    order is cheapest to find them."""

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[:COUNT_CAP].count()


class CategoryFilter(admin.SimpleListFilter):
    """The three answer categories, named rather than read from the table: the admin's default
    filter for a plain column lists its values with a SELECT DISTINCT over every row."""

    title = _("category")
    parameter_name = "category"

    def lookups(self, request, model_admin):
        return [
            ("1", _("Positive (promoter, satisfied, easy)")),
            ("0", _("Neutral (passive)")),
            ("-1", _("Negative (detractor, unsatisfied, difficult)")),
        ]

    def queryset(self, request, queryset):
        if self.value() in ("1", "0", "-1"):
            return queryset.filter(category=int(self.value()))
        return queryset


class BigTableChangeList(ChangeList):
    def get_queryset(self, request, *args, **kwargs):
        queryset = super().get_queryset(request, *args, **kwargs)
        return queryset.only(*self.model_admin.list_columns)


class BigTableAdminMixin:
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = LIST_PER_PAGE
    # The fields list_display reads, through list_select_related for the related ones. One
    # missing is read row by row (a query each): the admin's tests count the page's queries.
    list_columns: tuple[str, ...] = ()

    def get_changelist(self, request, **kwargs):
        return BigTableChangeList

    def action_checkbox(self, obj):
        # The same input as ModelAdmin.action_checkbox writes, without a CheckboxInput widget
        # rendered through the form templates for each row.
        label = format_html(gettext("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            label,
        )

    def search_clause(self, term: str) -> Q:  # pragma: no cover - subclasses define it
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        terms = search_term.split()
        if not terms:
            return queryset, False
        for term in terms:
            queryset = queryset.filter(self.search_clause(term.strip("\"'")))
        return queryset, False


# Up to this many matching contacts or accounts are passed as a list of ids, which the big
# table's foreign-key index answers (`= ANY(...)`, combined with the other terms by a bitmap OR).
# A broader term ("example.com") stays a subquery: correct, but it reads the big table.
MATCH_LIST_CAP = 1_000


def _ids_or_subquery(queryset):
    ids = list(queryset.values_list("pk", flat=True)[: MATCH_LIST_CAP + 1])
    return ids if len(ids) <= MATCH_LIST_CAP else queryset.values("pk")


def contacts_matching(term: str):
    # Unordered: a set of ids needs no sort of the matching contacts by email.
    return _ids_or_subquery(Contact.objects.filter(email__icontains=term).order_by())


def accounts_matching(term: str):
    return _ids_or_subquery(Account.objects.filter(name__icontains=term).order_by())


@functools.cache
def _icon_url(value: bool) -> str:
    return static(f"admin/img/icon-{'yes' if value else 'no'}.svg")


def icon_column(model, field_name: str):
    """A list column of a boolean field drawn as the admin draws one (its yes/no icon, sortable),
    with the icon's address looked up once rather than in every cell."""

    @admin.display(description=model._meta.get_field(field_name).verbose_name, ordering=field_name)
    def column(obj) -> str:
        value = getattr(obj, field_name)
        return format_html('<img src="{}" alt="{}">', _icon_url(value), value)

    column.__name__ = field_name  # the cells keep their CSS class, field-<name>
    return column


def time_column(model, field_name: str):
    """A list column of a datetime field in the staff member's zone as "2026-03-01 09:30" (the
    zone is named once, in the column's header), sortable. The admin's default cell formats
    each datetime through the language's long date format, several times the cost of this."""

    @admin.display(
        description=model._meta.get_field(field_name).verbose_name,
        ordering=field_name,
        empty_value="-",
    )
    def column(obj) -> str | None:
        value = getattr(obj, field_name)
        return None if value is None else timezone.localtime(value).strftime("%Y-%m-%d %H:%M")

    column.__name__ = field_name
    return column


def as_uuid(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term)
    except ValueError:
        return None
