"""Seed a fresh org: deterministic for a given number of Contacts and seed.

Proportions for N Contacts: Users 25, Accounts N/10, Leads N/4, Opportunities N/10,
Campaigns max(5, N/10000), CampaignMembers N/10, Subscription__c N/20, Tasks N/2, Events N/10
(see :mod:`emulator.generator_activities`), and the one Organization record. Seeded timestamps lie
between 2022-01-01 and 2025-01-01 (UTC), so anything the server writes later is newer.

The data carries the dirt real orgs carry, at small fixed rates: missing (~3%) and malformed
(~2%) emails, mixed case and stray whitespace (~5%), duplicate emails between Contacts (~1%),
Leads sharing a Contact's email (~5%), converted Leads (~5%) pointing at a Contact with the same
email, unicode names, over-long titles, records in the recycle bin (~1%), inactive picklist
values and owners.
"""

from __future__ import annotations

import random
import sqlite3
import time
from bisect import bisect_right
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from emulator.assignment import ensure_routing
from emulator.generator_activities import activities, marketing_fields
from emulator.ids import IdFactory, make_id
from emulator.names import (
    CAMPAIGN_TOPICS,
    CITIES,
    COMPANY_FIRST,
    COMPANY_SECOND,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    LONG_TITLE_WORDS,
    STATES,
    STREETS,
    TITLES,
)
from emulator.schema import (
    ACCOUNT_TYPES,
    CAMPAIGN_STATUSES,
    CAMPAIGN_TYPES,
    INDUSTRIES,
    LEAD_SOURCES,
    OBJECTS,
    OPPORTUNITY_STAGES,
    OPPORTUNITY_TYPES,
    ObjectDef,
)
from emulator.store import (
    DB_NAME,
    INTERNAL_DDL,
    SCHEMA_VERSION,
    configure_connection,
    ensure_organization,
    index_ddl,
    quote_ident,
    table_ddl,
)

START_DAY = date(2022, 1, 1)
SEED_DAYS = 1096  # through 2024-12-31
_DAY_TEXT = [(START_DAY + timedelta(days=i)).isoformat() for i in range(SEED_DAYS + 1)]
USER_COUNT = 25
BATCH = 20000


def proportions(records: int) -> dict[str, int]:
    """How many records of each object an org seeded with ``records`` Contacts gets."""
    return {
        "User": USER_COUNT,
        "Account": max(1, records // 10),
        "Contact": records,
        "Lead": records // 4,
        "Opportunity": records // 10,
        "Campaign": max(5, records // 10000),
        "CampaignMember": records // 10,
        "Subscription__c": records // 20,
        "Task": records // 2,
        "Event": records // 10,
    }


def _stamp(day: int, second: int) -> str:
    hours, rest = divmod(second, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{_DAY_TEXT[day]}T{hours:02d}:{minutes:02d}:{secs:02d}.{(second * 7919) % 1000:03d}Z"


class _Clock:
    """Creation and modification stamps for seeded rows."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pair(self) -> tuple[str, str, int]:
        """(CreatedDate, SystemModstamp, day of the modstamp)."""
        rand = self.rng.random
        created_day = int(rand() * SEED_DAYS)
        modified_day = created_day + int(rand() * (SEED_DAYS - created_day))
        created = _stamp(created_day, int(rand() * 86400))
        modified = _stamp(modified_day, int(rand() * 86400))
        if modified < created:
            modified = created
        return created, modified, modified_day


def _insert(conn: sqlite3.Connection, obj: ObjectDef, cols: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> None:
    """Insert generated tuples (in ``cols`` order) in large executemany batches."""
    known = {f.name for f in obj.stored_fields} | {"rid", "_DeletedDate"}
    unknown = set(cols) - known
    if unknown:
        raise ValueError(f"generator columns not in the {obj.name} schema: {sorted(unknown)}")
    sql = (f"INSERT INTO {quote_ident(obj.name)} ({', '.join(quote_ident(c) for c in cols)}) "
           f"VALUES ({', '.join('?' for _ in cols)})")
    batch: list[tuple[Any, ...]] = []
    append = batch.append
    for row in rows:
        append(row)
        if len(batch) >= BATCH:
            conn.executemany(sql, batch)
            batch.clear()
    if batch:
        conn.executemany(sql, batch)


def _cumulative(weights: list[float]) -> list[float]:
    total = float(sum(weights))
    out, acc = [], 0.0
    for weight in weights:
        acc += weight
        out.append(acc / total)
    out[-1] = 1.0
    return out


def _pick_weighted(values: list[Any], cumulative: list[float], roll: float) -> Any:
    return values[bisect_right(cumulative, roll)] if roll < 1.0 else values[-1]


_SYSTEM = ("IsDeleted", "_DeletedDate", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
           "SystemModstamp")


class OrgGenerator:
    """Builds every object of a seeded org as tuples ready for ``executemany``.

    Each ``<object>()`` method returns ``(columns, rows)``.

    Args:
        records: Number of Contacts.
        seed: Seed; the same records and seed give the same org.
        username: Username of the integration user (User #1, the API user).
    """

    def __init__(self, records: int, seed: int, username: str) -> None:
        self.records = records
        self.seed = seed
        self.username = username
        self.counts = proportions(records)
        self.active_users: list[str] = []
        self.all_users: list[str] = []

    def rng(self, name: str) -> random.Random:
        """A per-object random stream (adding an object never shifts another's data)."""
        return random.Random(f"{self.seed}:{name}")

    def _owners(self) -> list[str]:
        """Owner pool: ~3% of picks land on inactive users (orgs that never reassigned records)."""
        inactive = [u for u in self.all_users if u not in self.active_users]
        pool = self.active_users * 32
        pool += inactive * max(1, len(pool) // 33 // max(1, len(inactive)))
        return pool

    # -- objects ---------------------------------------------------------------------------------

    def users(self) -> tuple[tuple[str, ...], Iterator[tuple[Any, ...]]]:
        cols = ("rid", "Id", "Username", "Email", "FirstName", "LastName", "Name", "IsActive", "Title", *_SYSTEM)
        rng = self.rng("User")
        clock = _Clock(rng)
        ids = [make_id(OBJECTS["User"].key_prefix, i) for i in range(1, USER_COUNT + 1)]
        self.all_users = ids
        self.active_users = [ids[i - 1] for i in range(1, USER_COUNT + 1) if i == 1 or i % 12 != 0]
        rows = []
        for rid in range(1, USER_COUNT + 1):
            created, modified, _day = clock.pair()
            if rid == 1:
                first, last = "ETL", "Integration"
                username, email, title = self.username, self.username, "Integration User"
            else:
                (first, fa), (last, la) = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                username = email = f"{fa}.{la}{rid}@example.com"
                title = rng.choice(TITLES)
            active = ids[rid - 1] in self.active_users
            rows.append((rid, ids[rid - 1], username, email, first, last, f"{first} {last}", int(active), title,
                         0, None, created, ids[0], modified, ids[0], modified))
        return cols, iter(rows)

    def accounts(self) -> tuple[tuple[str, ...], Iterator[tuple[Any, ...]]]:
        cols = ("rid", "Id", "OwnerId", "Name", "Type", "Industry", "Website", "Phone", "AnnualRevenue",
                "NumberOfEmployees", "BillingStreet", "BillingCity", "BillingState", "BillingPostalCode",
                "BillingCountry", "External_Id__c", *_SYSTEM)
        return cols, self._accounts()

    def _accounts(self) -> Iterator[tuple[Any, ...]]:
        rng = self.rng("Account")
        rand = rng.random
        choice = rng.choice
        clock = _Clock(rng)
        types = [p.value for p in ACCOUNT_TYPES]
        industries = [p.value for p in INDUSTRIES]
        make = IdFactory(OBJECTS["Account"].key_prefix)
        users, owners = self.all_users, self._owners()
        for rid in range(1, self.counts["Account"] + 1):
            created, modified, _day = clock.pair()
            name = f"{choice(COMPANY_FIRST)} {choice(COMPANY_SECOND)}"
            if rand() < 0.7:
                name = f"{name} {rid}"
            slug = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())[:30] or f"company{rid}"
            city, country = choice(CITIES)
            deleted = rand() < 0.01
            yield (
                rid, make(rid), choice(owners), name, choice(types),
                None if rand() < 0.1 else choice(industries),
                None if rand() < 0.15 else f"https://www.{slug}.example.com",
                None if rand() < 0.1 else f"+1 {200 + int(rand() * 799)} 555 {int(rand() * 10000):04d}",
                None if rand() < 0.2 else float(round(10 ** (4 + rand() * 5.5))),
                None if rand() < 0.2 else int(1 + rand() ** 3 * 200000),
                f"{1 + int(rand() * 999)} {choice(STREETS)}", city, choice(STATES), f"{int(rand() * 100000):05d}",
                country, None if rand() < 0.1 else f"EXT-{rid:08d}",
                int(deleted), modified if deleted else None, created, choice(users), modified, choice(users), modified,
            )

    @staticmethod
    def _email(roll: float, pick: float, first_ascii: str, last_ascii: str, rid: int, recent: list[str]) -> str | None:
        base = f"{first_ascii}.{last_ascii}{rid}"
        domain = EMAIL_DOMAINS[rid % len(EMAIL_DOMAINS)]
        if roll >= 0.11:
            email = f"{base}@{domain}"
            if len(recent) < 512:
                recent.append(email)
            else:
                recent[rid & 511] = email
            return email
        if roll < 0.03:
            return None
        if roll < 0.05:
            return (f"{base}@", f"{base}.{domain}", f"{first_ascii} {last_ascii}@{domain}",
                    f"{base}@@{domain}", f"{base}@{domain.split('.')[0]}")[rid % 5]
        if roll < 0.10:
            mixed = f"{first_ascii.capitalize()}.{last_ascii.upper()}{rid}@{domain.upper()}"
            return (mixed, f" {base}@{domain}", f"{base}@{domain}  ", f"\t{mixed} ")[rid % 4]
        if recent:
            return recent[int(pick * len(recent))]
        return f"{base}@{domain}"

    @staticmethod
    def _long_title(rng: random.Random) -> str:
        words: list[str] = []
        target = 100 + int(rng.random() * 29)
        while len(" ".join(words)) < target:
            words.append(rng.choice(LONG_TITLE_WORDS))
        return " ".join(words)[:target]

    def contacts(self) -> tuple[tuple[str, ...], Iterator[tuple[Any, ...]]]:
        cols = ("rid", "Id", "OwnerId", "AccountId", "FirstName", "LastName", "Name", "Email", "Phone", "Title",
                "MailingCity", "MailingCountry", "LeadSource", "HasOptedOutOfEmail", "Status__c", "Lead_Score__c",
                "Last_Visit__c", *_SYSTEM)
        return cols, self._contacts()

    def _contacts(self) -> Iterator[tuple[Any, ...]]:
        rng = self.rng("Contact")
        rand = rng.random
        clock = _Clock(rng)
        make = IdFactory(OBJECTS["Contact"].key_prefix)
        make_account = IdFactory(OBJECTS["Account"].key_prefix)
        n_accounts = self.counts["Account"]
        sources = [None] + [p.value for p in LEAD_SOURCES]
        source_cum = _cumulative([20, 30, 15, 15, 10, 10, 2])
        statuses = ["1", "2", "3", "4", "5", None]
        status_cum = _cumulative([30, 28, 18, 14, 5, 5])
        titles, n_titles = TITLES, len(TITLES)
        firsts, n_first = FIRST_NAMES, len(FIRST_NAMES)
        lasts, n_last = LAST_NAMES, len(LAST_NAMES)
        cities, n_cities = CITIES, len(CITIES)
        users, n_users = self.all_users, len(self.all_users)
        owners, n_owners = self._owners(), len(self._owners())
        recent: list[str] = []
        email = self._email
        for rid in range(1, self.records + 1):
            created, modified, modified_day = clock.pair()
            first, fa = firsts[int(rand() * n_first)]
            last, la = lasts[int(rand() * n_last)]
            if rand() < 0.02:
                first, fa = None, "info"
            city, country = cities[int(rand() * n_cities)]
            deleted = rand() < 0.01
            title_roll = rand()
            if title_roll < 0.15:
                title = None
            elif title_roll < 0.155:
                title = self._long_title(rng)
            else:
                title = titles[int(rand() * n_titles)]
            yield (
                rid, make(rid), owners[int(rand() * n_owners)],
                make_account(1 + int(rand() * n_accounts)) if rand() < 0.9 else None,
                first, last, f"{first} {last}" if first else last,
                email(rand(), rand(), fa, la, rid, recent),
                None if rand() < 0.1 else f"+{1 + int(rand() * 98)} {int(rand() * 1000):03d} {int(rand() * 10**7):07d}",
                title, None if rand() < 0.05 else city, None if rand() < 0.05 else country,
                _pick_weighted(sources, source_cum, rand()), int(rand() < 0.08),
                _pick_weighted(statuses, status_cum, rand()),
                None if rand() < 0.1 else float(int(rand() * 101)),
                _stamp(max(0, modified_day - int(rand() * 30)), int(rand() * 86400)) if rand() < 0.6 else None,
                int(deleted), modified if deleted else None, created, users[int(rand() * n_users)], modified,
                users[int(rand() * n_users)], modified,
            )

    def leads(self, conn: sqlite3.Connection) -> tuple[tuple[str, ...], Iterator[tuple[Any, ...]]]:
        cols = ("rid", "Id", "OwnerId", "FirstName", "LastName", "Name", "Company", "Email", "Phone", "Title",
                "Status", "Status__c", "LeadSource", "Industry", "HasOptedOutOfEmail", "Lead_Score__c",
                "Last_Visit__c", "IsConverted", "ConvertedContactId", "ConvertedAccountId", "ConvertedDate",
                *_SYSTEM)
        return cols, self._leads(conn)

    def _leads(self, conn: sqlite3.Connection) -> Iterator[tuple[Any, ...]]:
        rng = self.rng("Lead")
        rand = rng.random
        choice = rng.choice
        clock = _Clock(rng)
        make = IdFactory(OBJECTS["Lead"].key_prefix)
        n_leads = self.counts["Lead"]
        sources = [p.value for p in LEAD_SOURCES]
        industries = [p.value for p in INDUSTRIES]
        statuses = ["1", "2", "3", "4", "5", None]
        status_cum = _cumulative([40, 30, 12, 6, 6, 6])
        open_statuses = ["Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"]
        open_cum = _cumulative([55, 35, 10])
        users, owners = self.all_users, self._owners()
        # Leads linked to a Contact: ~5% were converted into it, ~5% more share its email.
        links: dict[int, tuple[str, int]] = {}
        if self.records:
            for rid in range(1, n_leads + 1):
                roll = rand()
                if roll < 0.05:
                    links[rid] = ("converted", 1 + int(rand() * self.records))
                elif roll < 0.10:
                    links[rid] = ("shared", 1 + int(rand() * self.records))
        contact_rows: dict[int, tuple[Any, ...]] = {}
        wanted = sorted({c for _kind, c in links.values()})
        for start in range(0, len(wanted), 900):
            chunk = wanted[start:start + 900]
            for row in conn.execute(f"SELECT rid, Id, Email, FirstName, LastName, AccountId FROM Contact WHERE rid IN "
                                    f"({','.join('?' * len(chunk))})", chunk):
                contact_rows[row[0]] = row
        recent: list[str] = []
        for rid in range(1, n_leads + 1):
            created, modified, modified_day = clock.pair()
            (first, fa), (last, la) = choice(FIRST_NAMES), choice(LAST_NAMES)
            company = f"{choice(COMPANY_FIRST)} {choice(COMPANY_SECOND)}"
            email = self._email(rand(), rand(), fa, la, 10_000_000 + rid, recent)
            status = _pick_weighted(open_statuses, open_cum, rand())
            converted: tuple[Any, ...] = (0, None, None, None)
            link = links.get(rid)
            if link is not None and link[1] in contact_rows:
                _crid, contact_id, contact_email, contact_first, contact_last, account_id = contact_rows[link[1]]
                email = contact_email
                if link[0] == "converted":
                    first, last = contact_first, contact_last or last
                    status = "Closed - Converted"
                    converted = (1, contact_id, account_id, _DAY_TEXT[modified_day])
            deleted = not converted[0] and rand() < 0.01
            title_roll = rand()
            title = None if title_roll < 0.15 else (self._long_title(rng) if title_roll < 0.155 else choice(TITLES))
            yield (
                rid, make(rid), choice(owners), first, last, f"{first} {last}" if first else last, company, email,
                None if rand() < 0.15 else f"+{1 + int(rand() * 98)} {int(rand() * 1000):03d} {int(rand() * 10**7):07d}",
                title, status, _pick_weighted(statuses, status_cum, rand()),
                None if rand() < 0.2 else choice(sources), None if rand() < 0.3 else choice(industries),
                int(rand() < 0.06), None if rand() < 0.15 else float(int(rand() * 101)),
                _stamp(max(0, modified_day - int(rand() * 30)), int(rand() * 86400)) if rand() < 0.5 else None,
                *converted,
                int(deleted), modified if deleted else None, created, choice(users), modified, choice(users), modified,
            )

    def campaigns(self) -> tuple[tuple[str, ...], Iterator[tuple[Any, ...]]]:
        cols = ("rid", "Id", "OwnerId", "Name", "Type", "Status", "StartDate", "EndDate", "IsActive", "BudgetedCost",
                "ActualCost", "ParentId", *_SYSTEM)
        return cols, self._campaigns()

    def _campaigns(self) -> Iterator[tuple[Any, ...]]:
        rng = self.rng("Campaign")
        rand = rng.random
        clock = _Clock(rng)
        make = IdFactory(OBJECTS["Campaign"].key_prefix)
        types = [p.value for p in CAMPAIGN_TYPES]
        statuses = [p.value for p in CAMPAIGN_STATUSES]
        users, owners = self.all_users, self._owners()
        for rid in range(1, self.counts["Campaign"] + 1):
            created, modified, _day = clock.pair()
            start = START_DAY + timedelta(days=int(rand() * SEED_DAYS))
            kind = rng.choice(types)
            budget = float(round(rand() * 50000, -2))
            yield (
                rid, make(rid), rng.choice(owners), f"{start.year} {kind} - {rng.choice(CAMPAIGN_TOPICS)} #{rid}",
                kind, rng.choice(statuses), start.isoformat(),
                (start + timedelta(days=7 + int(rand() * 90))).isoformat(), int(rand() < 0.4), budget,
                float(round(budget * rand(), -1)),
                make(1 + int(rand() * (rid - 1))) if rid > 3 and rand() < 0.2 else None,
                0, None, created, rng.choice(users), modified, rng.choice(users), modified,
            )

    def opportunities(self) -> tuple[tuple[str, ...], Iterator[tuple[Any, ...]]]:
        cols = ("rid", "Id", "OwnerId", "Name", "AccountId", "StageName", "Amount", "CloseDate", "Probability",
                "Type", "LeadSource", "IsClosed", "IsWon", "CampaignId", *_SYSTEM)
        return cols, self._opportunities()

    def _opportunities(self) -> Iterator[tuple[Any, ...]]:
        rng = self.rng("Opportunity")
        rand = rng.random
        choice = rng.choice
        clock = _Clock(rng)
        make = IdFactory(OBJECTS["Opportunity"].key_prefix)
        make_account = IdFactory(OBJECTS["Account"].key_prefix)
        make_campaign = IdFactory(OBJECTS["Campaign"].key_prefix)
        n_accounts, n_campaigns = self.counts["Account"], self.counts["Campaign"]
        types = [p.value for p in OPPORTUNITY_TYPES]
        sources = [p.value for p in LEAD_SOURCES]
        kinds = ("Renewal", "Expansion", "New Business", "Pilot")
        users, owners = self.all_users, self._owners()
        for rid in range(1, self.counts["Opportunity"] + 1):
            created, modified, day = clock.pair()
            stage = choice(OPPORTUNITY_STAGES)
            deleted = rand() < 0.01
            yield (
                rid, make(rid), choice(owners), f"{choice(COMPANY_FIRST)} - {choice(kinds)} {rid}",
                make_account(1 + int(rand() * n_accounts)) if rand() < 0.95 else None, stage.value,
                None if rand() < 0.1 else round(rand() * 250000, 2), _DAY_TEXT[min(SEED_DAYS, day + int(rand() * 120))],
                float(stage.probability or 0), choice(types), None if rand() < 0.3 else choice(sources),
                int(stage.closed), int(stage.won),
                make_campaign(1 + int(rand() * n_campaigns)) if rand() < 0.3 else None,
                int(deleted), modified if deleted else None, created, choice(users), modified, choice(users), modified,
            )

    def campaign_members(self) -> tuple[tuple[str, ...], Iterator[tuple[Any, ...]]]:
        cols = ("rid", "Id", "CampaignId", "ContactId", "LeadId", "Status", "HasResponded", *_SYSTEM)
        return cols, self._campaign_members()

    def _campaign_members(self) -> Iterator[tuple[Any, ...]]:
        rng = self.rng("CampaignMember")
        rand = rng.random
        clock = _Clock(rng)
        make = IdFactory(OBJECTS["CampaignMember"].key_prefix)
        make_campaign = IdFactory(OBJECTS["Campaign"].key_prefix)
        make_contact, make_lead = IdFactory(OBJECTS["Contact"].key_prefix), IdFactory(OBJECTS["Lead"].key_prefix)
        n_campaigns, n_contacts, n_leads = self.counts["Campaign"], self.records, self.counts["Lead"]
        users = self.all_users
        for rid in range(1, self.counts["CampaignMember"] + 1):
            created, modified, _day = clock.pair()
            responded = rand() < 0.3
            on_contact = n_leads == 0 or rand() < 0.6
            yield (
                rid, make(rid), make_campaign(1 + int(rand() * n_campaigns)),
                make_contact(1 + int(rand() * n_contacts)) if on_contact else None,
                None if on_contact else make_lead(1 + int(rand() * n_leads)),
                "Responded" if responded else "Sent", int(responded),
                0, None, created, rng.choice(users), modified, rng.choice(users), modified,
            )

    def subscriptions(self) -> tuple[tuple[str, ...], Iterator[tuple[Any, ...]]]:
        cols = ("rid", "Id", "OwnerId", "Name", "Contact__c", "Plan__c", "Status__c", "Start_Date__c", "Amount__c",
                *_SYSTEM)
        return cols, self._subscriptions()

    def _subscriptions(self) -> Iterator[tuple[Any, ...]]:
        rng = self.rng("Subscription__c")
        rand = rng.random
        clock = _Clock(rng)
        make = IdFactory(OBJECTS["Subscription__c"].key_prefix)
        make_contact = IdFactory(OBJECTS["Contact"].key_prefix)
        prices = {"Free": 0.0, "Pro": 29.0, "Enterprise": 299.0}
        plan_cum = _cumulative([50, 40, 10])
        plans = ["Free", "Pro", "Enterprise"]
        users, owners = self.all_users, self._owners()
        for rid in range(1, self.counts["Subscription__c"] + 1):
            created, modified, day = clock.pair()
            plan = _pick_weighted(plans, plan_cum, rand())
            deleted = rand() < 0.01
            yield (
                rid, make(rid), rng.choice(owners), f"SUB-{rid:07d}", make_contact(1 + int(rand() * self.records)),
                plan, "Cancelled" if rand() < 0.2 else "Active", _DAY_TEXT[day], prices[plan] * (1 + int(rand() * 3)),
                int(deleted), modified if deleted else None, created, rng.choice(users), modified, rng.choice(users),
                modified,
            )


def seed_org(state_dir: Path, records: int, seed: int, username: str) -> dict[str, Any]:
    """Create ``state_dir/org.sqlite`` with a freshly generated org.

    The database is built under a temporary name without journaling, indexed, switched to
    WAL and renamed into place, so a crash never leaves a half-seeded org behind.

    Returns:
        ``{"counts": {object: n}, "seconds": float}``.
    """
    started = time.monotonic()
    state_dir.mkdir(parents=True, exist_ok=True)
    final = state_dir / DB_NAME
    tmp = state_dir / (DB_NAME + ".seeding")
    for leftover in (tmp, Path(str(tmp) + "-journal")):
        leftover.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp, isolation_level=None)
    configure_connection(conn)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")
    conn.execute("PRAGMA cache_size = -262144")
    for obj in OBJECTS.values():
        for stmt in table_ddl(obj):
            conn.execute(stmt)
    for stmt in INTERNAL_DDL:
        conn.execute(stmt)
    gen = OrgGenerator(records, seed, username)
    conn.execute("BEGIN")
    for name, build in (("User", gen.users), ("Account", gen.accounts), ("Campaign", gen.campaigns),
                        ("Contact", gen.contacts), ("Lead", lambda: gen.leads(conn)),
                        ("Opportunity", gen.opportunities), ("CampaignMember", gen.campaign_members),
                        ("Subscription__c", gen.subscriptions)):
        cols, rows = build()
        _insert(conn, OBJECTS[name], cols, rows)
    activities(conn, seed, gen.counts, gen.all_users)
    marketing_fields(conn, seed)
    ensure_organization(conn)
    ensure_routing(conn)
    conn.execute("COMMIT")
    for obj in OBJECTS.values():
        for stmt in index_ddl(obj):
            conn.execute(stmt)
        # AUTOINCREMENT bookkeeping so later inserts continue after the seeded rows.
        top = conn.execute(f"SELECT MAX(rid) FROM {quote_ident(obj.name)}").fetchone()[0] or 0
        conn.execute("DELETE FROM sqlite_sequence WHERE name = ?", (obj.name,))
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (obj.name, top))
    meta = {"records": records, "seed": seed, "schema_version": SCHEMA_VERSION, "username": username,
            "counts": gen.counts, "seeded_at": time.time()}
    conn.execute("INSERT INTO _meta (key, value) VALUES ('org', ?)", (_json(meta),))
    conn.execute("PRAGMA locking_mode = NORMAL")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    tmp.replace(final)
    return {"counts": gen.counts, "seconds": round(time.monotonic() - started, 2)}


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
