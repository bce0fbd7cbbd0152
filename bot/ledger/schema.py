"""The ledger's schema: its numbered migrations, applied in order, each once, to every state database."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: subscribers, editions, deliveries
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'unsubscribed', 'pending', 'bounced')),
        source TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        unsubscribed_at TEXT
    );
    CREATE TABLE editions (
        id INTEGER PRIMARY KEY,
        slot TEXT UNIQUE,
        subject TEXT NOT NULL,
        html TEXT NOT NULL,
        text TEXT NOT NULL,
        recipients INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE edition_items (
        edition_id INTEGER NOT NULL REFERENCES editions (id),
        item_id TEXT NOT NULL UNIQUE,
        position INTEGER NOT NULL
    );
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL CHECK (channel IN ('email', 'x', 'mastodon', 'bluesky')),
        edition_id INTEGER REFERENCES editions (id),
        subscriber_id INTEGER REFERENCES subscribers (id),
        item_id TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'missed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        remote_id TEXT,
        due_at TEXT NOT NULL,
        next_attempt_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        sent_at TEXT,
        UNIQUE (edition_id, subscriber_id),
        UNIQUE (item_id, channel)
    );
    CREATE INDEX deliveries_by_edition ON deliveries (edition_id, status, id);
    CREATE INDEX deliveries_by_status ON deliveries (status, channel);
    """,
    # 2: what mail providers tell us back (bounces, complaints), and webhook calls already seen
    """
    CREATE TABLE bounces (
        id INTEGER PRIMARY KEY,
        subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint')),
        source TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        at TEXT NOT NULL
    );
    CREATE INDEX bounces_by_subscriber ON bounces (subscriber_id, kind);
    CREATE TABLE webhook_events (id TEXT PRIMARY KEY, at TEXT NOT NULL);
    """,
    # 3: when a delivery was first handed over: a platform key chosen by Herald (Bluesky's record key) is
    # derived from it, so every retry repeats it
    """
    ALTER TABLE deliveries ADD COLUMN first_attempt_at TEXT;
    """,
    # 4: no index holds a delivery's status, so marking a hand-over rewrites one row and nothing else; an
    # edition says itself when it is finished, instead of a scan of its deliveries finding out
    """
    DROP INDEX deliveries_by_edition;
    DROP INDEX deliveries_by_status;
    CREATE INDEX deliveries_in_order ON deliveries (edition_id);
    ALTER TABLE editions ADD COLUMN finished_at TEXT;
    UPDATE editions SET finished_at = created_at WHERE id NOT IN (SELECT edition_id FROM deliveries
        WHERE edition_id IS NOT NULL AND status IN ('pending', 'sending'));
    """,
    # 5: staff and their server-side sessions (only a hash of each session id is kept), the activity log,
    # approvals bound to an item's content, holds, and dismissed deliveries
    """
    CREATE TABLE staff (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL CHECK (role IN ('editor', 'approver', 'admin')),
        password_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        actor TEXT NOT NULL COLLATE NOCASE,
        created_at TEXT NOT NULL,
        seen_at TEXT NOT NULL
    );
    CREATE INDEX sessions_by_actor ON sessions (actor);
    CREATE TABLE activity (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        item_id TEXT,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX activity_by_item ON activity (item_id);
    CREATE TABLE approvals (
        item_id TEXT PRIMARY KEY,
        digest TEXT NOT NULL,
        actor TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE holds (
        item_id TEXT NOT NULL,
        channel TEXT NOT NULL DEFAULT '',
        actor TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (item_id, channel)
    );
    ALTER TABLE deliveries ADD COLUMN dismissed_at TEXT;
    ALTER TABLE deliveries ADD COLUMN dismissed_by TEXT;
    """,
    # 6: each staff member's calendar feed (its secret is derived from BOT_SECRET and the generation, never
    # stored; renewing bumps the generation), and email items kept out of every newsletter as too old
    """
    CREATE TABLE calendar_feeds (
        actor TEXT PRIMARY KEY COLLATE NOCASE,
        generation INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL
    );
    CREATE TABLE stale_items (
        item_id TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        at TEXT NOT NULL
    );
    """,
    # 7: a subscriber id is never given twice (AUTOINCREMENT; SQLite otherwise gives the highest erased id again), so
    # an erased subscriber's unsubscribe link can never name someone else. The table is rebuilt with the same
    # columns and rows (foreign keys are off while migrating). A state that has sent editions gives new ids from
    # 2**32 on: above every id it ever gave, erased ones included, whose links already mailed (written before this
    # step, with the id in the clear) keep working for the subscribers still there (see subscribers.read_token).
    """
    CREATE TABLE subscribers_v7 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'unsubscribed', 'pending', 'bounced')),
        source TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        unsubscribed_at TEXT
    );
    INSERT INTO subscribers_v7 (id, email, name, status, source, created_at, updated_at, unsubscribed_at)
        SELECT id, email, name, status, source, created_at, updated_at, unsubscribed_at FROM subscribers ORDER BY id;
    DROP TABLE subscribers;
    ALTER TABLE subscribers_v7 RENAME TO subscribers;
    INSERT INTO sqlite_sequence (name, seq) SELECT 'subscribers', 0
        WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'subscribers');
    UPDATE sqlite_sequence SET seq = MAX(seq, 4294967295)
        WHERE name = 'subscribers' AND EXISTS (SELECT 1 FROM editions);
    """,
    # 8: the content that went out: the SHA-256 of an item's file as each post was handed over and as each edition
    # was made, so that `bot validate` can say when a file changed after it went out (NULL: sent before this step)
    """
    ALTER TABLE deliveries ADD COLUMN digest TEXT;
    ALTER TABLE edition_items ADD COLUMN digest TEXT;
    """,
    # 9: a delivery's channel is any registered platform (bot.platforms), no longer a list in the schema: the table
    # is rebuilt with the same rows, without that CHECK (foreign keys are off while migrating). Two columns come
    # with it: `steps`, what a platform's multi-step hand-over recorded before its last step (Threads' container,
    # published rather than made again after a crash), and `part`, a post's place in a reply thread (1 for all)
    """
    CREATE TABLE deliveries_v9 (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL CHECK (channel <> ''),
        edition_id INTEGER REFERENCES editions (id),
        subscriber_id INTEGER REFERENCES subscribers (id),
        item_id TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'missed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        remote_id TEXT,
        due_at TEXT NOT NULL,
        next_attempt_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        sent_at TEXT,
        first_attempt_at TEXT,
        dismissed_at TEXT,
        dismissed_by TEXT,
        digest TEXT,
        steps TEXT,
        part INTEGER NOT NULL DEFAULT 1 CHECK (part >= 1),
        UNIQUE (edition_id, subscriber_id),
        UNIQUE (item_id, channel, part)
    );
    INSERT INTO deliveries_v9 (id, channel, edition_id, subscriber_id, item_id, status, attempts, last_error,
                               remote_id, due_at, next_attempt_at, created_at, updated_at, sent_at, first_attempt_at,
                               dismissed_at, dismissed_by, digest)
        SELECT id, channel, edition_id, subscriber_id, item_id, status, attempts, last_error, remote_id, due_at,
               next_attempt_at, created_at, updated_at, sent_at, first_attempt_at, dismissed_at, dismissed_by, digest
        FROM deliveries ORDER BY id;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_v9 RENAME TO deliveries;
    CREATE INDEX deliveries_in_order ON deliveries (edition_id);
    """,
    # 10: feeds in (bot.feeds): each entry ever imported, by its guid or id (else its link), so that none comes back
    # after a re-import, an edit or a deleted file (`item_id` is NULL while its file is being written); and per feed,
    # its validators (ETag, Last-Modified) for conditional requests and when it was last polled
    """
    CREATE TABLE feed_entries (
        entry TEXT PRIMARY KEY,
        feed TEXT NOT NULL,
        item_id TEXT,
        at TEXT NOT NULL
    );
    CREATE TABLE feed_polls (
        feed TEXT PRIMARY KEY,
        etag TEXT,
        last_modified TEXT,
        polled_at TEXT NOT NULL
    );
    """,
    # 11: each subscriber's language (one of BOT_LANGUAGES), NULL until one is given (by staff or an import): NULL
    # follows the default language, so changing the first of BOT_LANGUAGES moves those who never chose with it
    """
    ALTER TABLE subscribers ADD COLUMN lang TEXT;
    """,
    # 12: editions in each subscriber's language. Each language's version of an edition (its subject, HTML and text,
    # and the items it holds, one id a line) is kept beside the edition, whose own columns stay the default
    # language's; an edition delivery records the language it goes in (the subscriber's when the edition was made),
    # and a post the language it is in: '' for the item as written, else the translation's. The deliveries table is
    # rebuilt with the same rows for the post's new key (foreign keys are off while migrating).
    """
    CREATE TABLE edition_languages (
        edition_id INTEGER NOT NULL REFERENCES editions (id),
        lang TEXT NOT NULL,
        subject TEXT NOT NULL,
        html TEXT NOT NULL,
        text TEXT NOT NULL,
        items TEXT NOT NULL,
        PRIMARY KEY (edition_id, lang)
    );
    CREATE TABLE deliveries_v12 (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL CHECK (channel <> ''),
        edition_id INTEGER REFERENCES editions (id),
        subscriber_id INTEGER REFERENCES subscribers (id),
        item_id TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'missed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        remote_id TEXT,
        due_at TEXT NOT NULL,
        next_attempt_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        sent_at TEXT,
        first_attempt_at TEXT,
        dismissed_at TEXT,
        dismissed_by TEXT,
        digest TEXT,
        steps TEXT,
        part INTEGER NOT NULL DEFAULT 1 CHECK (part >= 1),
        lang TEXT NOT NULL DEFAULT '',
        UNIQUE (edition_id, subscriber_id),
        UNIQUE (item_id, channel, part, lang)
    );
    INSERT INTO deliveries_v12 (id, channel, edition_id, subscriber_id, item_id, status, attempts, last_error,
                                remote_id, due_at, next_attempt_at, created_at, updated_at, sent_at, first_attempt_at,
                                dismissed_at, dismissed_by, digest, steps, part)
        SELECT id, channel, edition_id, subscriber_id, item_id, status, attempts, last_error, remote_id, due_at,
               next_attempt_at, created_at, updated_at, sent_at, first_attempt_at, dismissed_at, dismissed_by, digest,
               steps, part
        FROM deliveries ORDER BY id;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_v12 RENAME TO deliveries;
    CREATE INDEX deliveries_in_order ON deliveries (edition_id);
    """,
)
