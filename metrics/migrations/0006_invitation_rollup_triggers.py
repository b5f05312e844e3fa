# The triggers that keep the invitation funnel's rollups (metrics.InvitationRollup, made by
# 0005) exact in the transaction of every write to invitations and responses, then a first fill.
#
# Statement-level AFTER triggers with transition tables: a bulk statement (an import's
# INSERT ... SELECT, a queryset's update or delete) runs each trigger once, set-based. The
# funnel counts of an invitation come from its own row, except that an answer excluded by
# staff or quarantined leaves "answered" (and "clicked" when nobody opened the page): those
# few invitations are recorded in metrics_invitationrollupexclusion, and a trigger recounts
# them from the rows (subtracting what was recorded), so the order in which the triggers of
# one statement run (the answer's upsert writes both tables) does not matter.
#
# Writers take the shared advisory lock (ROLLUP_LOCK, month) of every UTC month they touch; the
# rebuild (metrics/funnel_rollups.py) takes it exclusively per month while it recounts one.

from django.db import migrations

ROLLUP_LOCK = 727110  # metrics.funnel_rollups.ROLLUP_LOCK


def _day(alias: str) -> str:
    return f"({alias}.created_at AT TIME ZONE 'UTC')::date"


def _counts(alias: str) -> str:
    """An invitation row's own counts; its excluded answer is subtracted apart."""
    return (
        f"(CASE WHEN {alias}.sent_at IS NULL THEN 0 ELSE 1 END) AS sent, "
        f"(CASE WHEN {alias}.clicked_at IS NULL AND {alias}.answered_at IS NULL "
        "THEN 0 ELSE 1 END) AS clicked, "
        f"(CASE WHEN {alias}.answered_at IS NULL THEN 0 ELSE 1 END) AS answered, "
        f"(CASE WHEN {alias}.bounced_at IS NULL THEN 0 ELSE 1 END) AS bounced, "
        f"(CASE WHEN {alias}.unsubscribed_at IS NOT NULL AND ({alias}.answered_at IS NULL "
        f"OR {alias}.unsubscribed_at < {alias}.answered_at) THEN 1 ELSE 0 END) AS unsubscribed"
    )


def _deltas(rows: str) -> str:
    """ARRAY of metrics_funnel_delta from `rows` (columns s: the sign, survey_id, day, and the
    counts), groups whose counts all cancel left out."""
    return f"""ARRAY(
        SELECT ROW(survey_id, day, SUM(s), SUM(s * sent), SUM(s * clicked), SUM(s * answered),
                   SUM(s * bounced), SUM(s * unsubscribed))::metrics_funnel_delta
        FROM ({rows}) AS x
        GROUP BY survey_id, day
        HAVING SUM(s) <> 0 OR SUM(s * sent) <> 0 OR SUM(s * clicked) <> 0
            OR SUM(s * answered) <> 0 OR SUM(s * bounced) <> 0 OR SUM(s * unsubscribed) <> 0
    )"""


def _recorded_or_excluded(alias: str) -> str:
    """Invitations whose excluded answer the rollups count or may have to."""
    return f"""(EXISTS (SELECT 1 FROM surveys_response r
                     WHERE r.invitation_id = {alias}.id AND r.excluded)
             OR EXISTS (SELECT 1 FROM metrics_invitationrollupexclusion e
                        WHERE e.invitation_id = {alias}.id))"""


FUNCTIONS = f"""
CREATE TYPE metrics_funnel_delta AS (
    survey_id bigint, day date, invited bigint, sent bigint, clicked bigint, answered bigint,
    bounced bigint, unsubscribed bigint
);
CREATE TYPE metrics_funnel_exclusion AS (
    invitation_id bigint, survey_id bigint, day date, clicked boolean
);

CREATE FUNCTION metrics_funnel_month(day date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (EXTRACT(YEAR FROM day)::integer * 12 + EXTRACT(MONTH FROM day)::integer - 1)
$$;

-- Adds `deltas` to the day and month rows and recounts the excluded answers of `ids`, under
-- the shared lock of every month touched (the rebuild holds a month's lock exclusively).
CREATE FUNCTION metrics_funnel_apply(deltas metrics_funnel_delta[], ids bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    wanted integer[];
    held integer[] := '{{}}';
    fresh metrics_funnel_exclusion[] := '{{}}';
    stale metrics_funnel_exclusion[] := '{{}}';
BEGIN
    -- No excluded answer to recount (nearly every write): the months of the deltas.
    IF cardinality(ids) = 0 THEN
        PERFORM pg_advisory_xact_lock_shared({ROLLUP_LOCK}, m)
        FROM (SELECT DISTINCT metrics_funnel_month(d.day) AS m FROM unnest(deltas) AS d
              ORDER BY 1) AS months;
    END IF;
    -- Else also the months of the invitations and of what was recorded for them (a recount
    -- may record another month: then its lock is taken too, before reading).
    WHILE cardinality(ids) > 0 LOOP
        wanted := ARRAY(
            SELECT metrics_funnel_month(d.day) FROM unnest(deltas) AS d
            UNION
            SELECT metrics_funnel_month({_day("i")})
            FROM surveys_invitation i WHERE i.id = ANY(ids)
            UNION
            SELECT metrics_funnel_month(e.day)
            FROM metrics_invitationrollupexclusion e WHERE e.invitation_id = ANY(ids)
            EXCEPT
            SELECT unnest(held)
            ORDER BY 1
        );
        EXIT WHEN cardinality(wanted) = 0;
        PERFORM pg_advisory_xact_lock_shared({ROLLUP_LOCK}, m) FROM unnest(wanted) AS m;
        held := held || wanted;
    END LOOP;

    IF cardinality(ids) > 0 THEN
        fresh := ARRAY(
            SELECT ROW(i.id, i.survey_id, {_day("i")}, i.clicked_at IS NOT NULL)
                   ::metrics_funnel_exclusion
            FROM surveys_invitation i
            JOIN surveys_response r ON r.invitation_id = i.id AND r.excluded
            WHERE i.id = ANY(ids) AND i.answered_at IS NOT NULL
        );
        stale := ARRAY(
            SELECT ROW(e.invitation_id, e.survey_id, e.day, e.clicked)::metrics_funnel_exclusion
            FROM metrics_invitationrollupexclusion e WHERE e.invitation_id = ANY(ids)
        );
    END IF;

    INSERT INTO metrics_invitationrollup AS r
        (survey_id, grain, period, invited, sent, clicked, answered, bounced, unsubscribed)
    SELECT d.survey_id, g.grain,
           CASE g.grain WHEN 'd' THEN d.day ELSE date_trunc('month', d.day)::date END,
           SUM(d.invited), SUM(d.sent), SUM(d.clicked), SUM(d.answered), SUM(d.bounced),
           SUM(d.unsubscribed)
    FROM (
        SELECT * FROM unnest(deltas)
        UNION ALL
        SELECT f.survey_id, f.day, 0, 0, CASE WHEN f.clicked THEN 0 ELSE -1 END, -1, 0, 0
        FROM unnest(fresh) AS f
        UNION ALL
        SELECT s.survey_id, s.day, 0, 0, CASE WHEN s.clicked THEN 0 ELSE 1 END, 1, 0, 0
        FROM unnest(stale) AS s
    ) AS d
    CROSS JOIN (VALUES ('d'), ('m')) AS g (grain)
    GROUP BY 1, 2, 3
    HAVING SUM(d.invited) <> 0 OR SUM(d.sent) <> 0 OR SUM(d.clicked) <> 0
        OR SUM(d.answered) <> 0 OR SUM(d.bounced) <> 0 OR SUM(d.unsubscribed) <> 0
    ORDER BY 1, 2, 3
    ON CONFLICT (survey_id, grain, period) DO UPDATE SET
        invited = r.invited + EXCLUDED.invited,
        sent = r.sent + EXCLUDED.sent,
        clicked = r.clicked + EXCLUDED.clicked,
        answered = r.answered + EXCLUDED.answered,
        bounced = r.bounced + EXCLUDED.bounced,
        unsubscribed = r.unsubscribed + EXCLUDED.unsubscribed;

    IF cardinality(fresh) > 0 OR cardinality(stale) > 0 THEN
        DELETE FROM metrics_invitationrollupexclusion WHERE invitation_id = ANY(ids);
        INSERT INTO metrics_invitationrollupexclusion (invitation_id, survey_id, day, clicked)
        SELECT * FROM unnest(fresh);
    END IF;
END
$$;

CREATE FUNCTION metrics_funnel_invitation_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM metrics_funnel_apply(
        {_deltas(f"SELECT 1 AS s, n.survey_id, {_day('n')} AS day, {_counts('n')} "
                 "FROM funnel_new n")},
        ARRAY(SELECT n.id FROM funnel_new n
              WHERE n.answered_at IS NOT NULL AND {_recorded_or_excluded("n")})
    );
    RETURN NULL;
END
$$;

CREATE FUNCTION metrics_funnel_invitation_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM metrics_funnel_apply(
        {_deltas(f"SELECT -1 AS s, o.survey_id, {_day('o')} AS day, {_counts('o')} "
                 "FROM funnel_old o")},
        ARRAY(SELECT o.id FROM funnel_old o
              JOIN metrics_invitationrollupexclusion e ON e.invitation_id = o.id)
    );
    RETURN NULL;
END
$$;

-- Most updates (claims, sends' bookkeeping, link fetches) change no count: they stop at the
-- first statement, with no lock taken.
CREATE FUNCTION metrics_funnel_invitation_update() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    deltas metrics_funnel_delta[];
    ids bigint[];
BEGIN
    WITH pairs AS (
        SELECT o.id,
               ROW(o.survey_id, {_day("o")}, o.sent_at IS NULL, o.clicked_at IS NULL,
                   o.answered_at IS NULL, o.bounced_at IS NULL, o.unsubscribed_at IS NULL,
                   o.unsubscribed_at < o.answered_at) AS was,
               ROW(n.survey_id, {_day("n")}, n.sent_at IS NULL, n.clicked_at IS NULL,
                   n.answered_at IS NULL, n.bounced_at IS NULL, n.unsubscribed_at IS NULL,
                   n.unsubscribed_at < n.answered_at) AS now
        FROM funnel_old o JOIN funnel_new n ON n.id = o.id
    ),
    changed AS (SELECT id FROM pairs WHERE was IS DISTINCT FROM now)
    SELECT
        {_deltas(f"SELECT 1 AS s, n.survey_id, {_day('n')} AS day, {_counts('n')} "
                 "FROM funnel_new n JOIN changed USING (id) "
                 f"UNION ALL SELECT -1, o.survey_id, {_day('o')}, {_counts('o')} "
                 "FROM funnel_old o JOIN changed USING (id)")},
        ARRAY(SELECT n.id FROM funnel_new n JOIN changed USING (id)
              WHERE {_recorded_or_excluded("n")})
    INTO deltas, ids;
    IF cardinality(deltas) > 0 OR cardinality(ids) > 0 THEN
        PERFORM metrics_funnel_apply(deltas, ids);
    END IF;
    RETURN NULL;
END
$$;

-- Only excluded answers change the funnel ("answered" counts the invitation's own answer
-- time): an ordinary answer stops at the first statement. The invitations are locked first,
-- so an answer's exclusion and a concurrent change of its invitation count in turn.
CREATE FUNCTION metrics_funnel_response_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        ids := ARRAY(SELECT DISTINCT n.invitation_id FROM funnel_new n
                     WHERE n.excluded AND n.invitation_id IS NOT NULL);
    ELSIF TG_OP = 'DELETE' THEN
        ids := ARRAY(SELECT DISTINCT o.invitation_id FROM funnel_old o
                     WHERE o.excluded AND o.invitation_id IS NOT NULL);
    ELSE
        ids := ARRAY(
            SELECT DISTINCT x.invitation_id
            FROM funnel_old o JOIN funnel_new n ON n.id = o.id
            CROSS JOIN LATERAL (VALUES (o.invitation_id, o.excluded),
                                       (n.invitation_id, n.excluded)) AS x (invitation_id, excluded)
            WHERE (o.invitation_id, o.excluded) IS DISTINCT FROM (n.invitation_id, n.excluded)
              AND x.excluded AND x.invitation_id IS NOT NULL
        );
    END IF;
    IF cardinality(ids) = 0 THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM surveys_invitation WHERE id = ANY(ids) ORDER BY id FOR NO KEY UPDATE;
    PERFORM metrics_funnel_apply('{{}}', ids);
    RETURN NULL;
END
$$;

CREATE TRIGGER metrics_funnel_invitation_insert AFTER INSERT ON surveys_invitation
    REFERENCING NEW TABLE AS funnel_new
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_funnel_invitation_insert();
CREATE TRIGGER metrics_funnel_invitation_update AFTER UPDATE ON surveys_invitation
    REFERENCING OLD TABLE AS funnel_old NEW TABLE AS funnel_new
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_funnel_invitation_update();
CREATE TRIGGER metrics_funnel_invitation_delete AFTER DELETE ON surveys_invitation
    REFERENCING OLD TABLE AS funnel_old
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_funnel_invitation_delete();
CREATE TRIGGER metrics_funnel_response_insert AFTER INSERT ON surveys_response
    REFERENCING NEW TABLE AS funnel_new
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_funnel_response_change();
CREATE TRIGGER metrics_funnel_response_update AFTER UPDATE ON surveys_response
    REFERENCING OLD TABLE AS funnel_old NEW TABLE AS funnel_new
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_funnel_response_change();
CREATE TRIGGER metrics_funnel_response_delete AFTER DELETE ON surveys_response
    REFERENCING OLD TABLE AS funnel_old
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_funnel_response_change();
"""

DROP_FUNCTIONS = """
DROP TRIGGER IF EXISTS metrics_funnel_response_delete ON surveys_response;
DROP TRIGGER IF EXISTS metrics_funnel_response_update ON surveys_response;
DROP TRIGGER IF EXISTS metrics_funnel_response_insert ON surveys_response;
DROP TRIGGER IF EXISTS metrics_funnel_invitation_delete ON surveys_invitation;
DROP TRIGGER IF EXISTS metrics_funnel_invitation_update ON surveys_invitation;
DROP TRIGGER IF EXISTS metrics_funnel_invitation_insert ON surveys_invitation;
DROP FUNCTION IF EXISTS metrics_funnel_response_change();
DROP FUNCTION IF EXISTS metrics_funnel_invitation_update();
DROP FUNCTION IF EXISTS metrics_funnel_invitation_delete();
DROP FUNCTION IF EXISTS metrics_funnel_invitation_insert();
DROP FUNCTION IF EXISTS metrics_funnel_apply(metrics_funnel_delta[], bigint[]);
DROP FUNCTION IF EXISTS metrics_funnel_month(date);
DROP TYPE IF EXISTS metrics_funnel_exclusion;
DROP TYPE IF EXISTS metrics_funnel_delta;
"""

# The first fill, in the migration's transaction: creating the triggers locks both tables
# against writes until it commits, so no write falls between the fill and the triggers.
FILL = f"""
INSERT INTO metrics_invitationrollupexclusion (invitation_id, survey_id, day, clicked)
SELECT i.id, i.survey_id, {_day("i")}, i.clicked_at IS NOT NULL
FROM surveys_invitation i
JOIN surveys_response r ON r.invitation_id = i.id AND r.excluded
WHERE i.answered_at IS NOT NULL;

INSERT INTO metrics_invitationrollup
    (survey_id, grain, period, invited, sent, clicked, answered, bounced, unsubscribed)
SELECT i.survey_id, 'd', {_day("i")}, COUNT(*), COUNT(i.sent_at),
       COUNT(*) FILTER (WHERE i.clicked_at IS NOT NULL
                        OR (i.answered_at IS NOT NULL AND x.invitation_id IS NULL)),
       COUNT(*) FILTER (WHERE i.answered_at IS NOT NULL AND x.invitation_id IS NULL),
       COUNT(i.bounced_at),
       COUNT(*) FILTER (WHERE i.unsubscribed_at IS NOT NULL
                        AND (i.answered_at IS NULL OR i.unsubscribed_at < i.answered_at))
FROM surveys_invitation i
LEFT JOIN metrics_invitationrollupexclusion x ON x.invitation_id = i.id
GROUP BY 1, 3;

INSERT INTO metrics_invitationrollup
    (survey_id, grain, period, invited, sent, clicked, answered, bounced, unsubscribed)
SELECT survey_id, 'm', date_trunc('month', period)::date, SUM(invited), SUM(sent),
       SUM(clicked), SUM(answered), SUM(bounced), SUM(unsubscribed)
FROM metrics_invitationrollup WHERE grain = 'd'
GROUP BY 1, 3;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0005_invitation_rollups"),
    ]

    operations = [
        migrations.RunSQL(sql=FUNCTIONS, reverse_sql=DROP_FUNCTIONS),
        migrations.RunSQL(sql=FILL, reverse_sql=migrations.RunSQL.noop),
    ]
