"""inputs.postgresql without a server: addresses, the server tag (Telegraf's own test vectors from
plugins/common/postgresql/config_test.go), config checks, and no psycopg import until needed."""

import subprocess
import sys
from urllib.parse import quote

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict

from agent.config.errors import ConfigError
from agent.config.loader import parse
from agent.inputs.postgresql import dsn, servertag
from agent.inputs.postgresql.connection import ReconnectBackoff

URI_VECTORS = [
    ("postgres://localhost", "host=localhost"),
    ("postgres://localhost:5432", "host=localhost port=5432"),
    ("postgres://localhost/mydb", "dbname=mydb host=localhost"),
    ("postgres://localhost/mydb?application_name=pgxtest&search_path=myschema&connect_timeout=5",
     "application_name=pgxtest connect_timeout=5 dbname=mydb host=localhost search_path=myschema"),
    ("postgres://localhost:5432/?database=mydb", "database=mydb host=localhost port=5432"),
    ("postgres://jack:secret@localhost:5432/mydb?sslmode=prefer",
     "dbname=mydb host=localhost password=secret port=5432 sslmode=prefer user=jack"),
    ("postgres://jack%20hunter:secret@localhost/mydb?application_name=pgx%20test",
     "application_name='pgx test' dbname=mydb host=localhost password=secret user='jack hunter'"),
    ("postgres://jack%20hunter:secret@localhost/mydb?application_name=pgx%3Dtest",
     "application_name='pgx=test' dbname=mydb host=localhost password=secret user='jack hunter'"),
    ("postgres://jack:secret@foo:1,bar:2,baz:3/mydb?sslmode=disable",
     "dbname=mydb host=foo,bar,baz password=secret port=1,2,3 sslmode=disable user=jack"),
    ("postgres://jack:secret@foo,bar,baz/mydb?sslmode=disable",
     "dbname=mydb host=foo,bar,baz password=secret sslmode=disable user=jack"),
]
SANITIZE_VALUES = [
    "foo", "''", "'foo bar'", "'foo=bar'", r"'foo\'s bar'", r"\'foobar\'s\'", r"'foo bar\\'",
    r"'foo\\\'s bar'", r"'foo bar\\\\'", "'foo     \t bar'", "' foo bar'", "'foo bar '",
    "'foo===bar'", "'=foo bar'", "'foo bar='", "'foo = a\t===\tbar'",
]
SECRET_KEYS = ["password", "sslcert", "sslkey", "sslmode", "sslrootcert"]


@pytest.mark.parametrize("uri,expected", URI_VECTORS)
def test_url_to_key_value_like_telegraf(uri, expected):
    assert servertag.url_to_keyword_value(uri) == expected


@pytest.mark.parametrize("value", SANITIZE_VALUES)
@pytest.mark.parametrize("equals", ["=", " = "])
def test_server_tag_drops_secrets_like_telegraf(value, equals):
    address = " canary=ok ".join(f"{key}{equals}{value}" for key in SECRET_KEYS)
    assert servertag.server_tag(address) == "canary=ok canary=ok canary=ok canary=ok"


@pytest.mark.parametrize("value", ["foo", "", "foo bar", "foo=bar"])
def test_server_tag_of_a_url_drops_secrets_like_telegraf(value):
    value = value.replace("=", "%3D").replace(" ", "%20")
    query = "&".join(f"{key}={value}" for key in SECRET_KEYS)
    address = f"postgresql://user:passwd@localhost:5432/db?{query}"
    assert servertag.server_tag(address) == "dbname=db host=localhost port=5432 user=user"


def test_server_tag_defaults_and_outputaddress():
    assert servertag.server_tag("") == "host=localhost"
    assert servertag.server_tag("localhost") == "host=localhost"
    assert servertag.server_tag("host=db password=x", outputaddress="db01") == "db01"
    # key=value strings keep their order; only URLs are sorted
    assert servertag.server_tag("user=u host=h password='p w' dbname=d") == "user=u host=h dbname=d"


def test_connection_database_is_telegrafs_db_tag_for_rows_without_datname():
    assert dsn.connection_database("host=h dbname=app", env={}) == "app"
    assert dsn.connection_database("host=h database=app", env={}) == "app"
    assert dsn.connection_database("host=h", env={"PGDATABASE": "fromenv"}) == "fromenv"
    assert dsn.connection_database("host=h", env={}) == "postgres"
    assert dsn.connection_database("db01", env={}) == "postgres"  # an outputaddress


def test_parse_keyword_value_like_libpq():
    parsed = dsn.parse_keyword_value(r"host = /run/pg  password='it\'s a \\ secret' user=a\ b")
    assert parsed == {"host": "/run/pg", "password": "it's a \\ secret", "user": "a b"}


@pytest.mark.parametrize("address", ["host=a secret-password", "host=a password='secret"])
def test_address_errors_never_quote_the_address(address):
    with pytest.raises(dsn.AddressError) as caught:
        dsn.parse_keyword_value(address)
    assert "secret" not in str(caught.value)


def test_parse_url_like_libpq():
    parsed = dsn.parse_url("postgresql://us%40er:p%3Ass@[::1]:5433,h2/d%20b?sslmode=require"
                           "&application_name=x")
    assert parsed == {"user": "us@er", "password": "p:ss", "host": "::1,h2", "port": "5433,",
                      "dbname": "d b", "sslmode": "require", "application_name": "x"}
    assert dsn.parse_url("postgres://%2Frun%2Fpostgresql/db") == {
        "host": "/run/postgresql", "dbname": "db"}


def test_redact_removes_every_secret():
    assert dsn.redact("a hunter2 b hunter2", ["hunter2", ""]) == "a *** b ***"


def config(body):
    return parse(f"[[inputs.postgresql]]\n{body}\n", "pg.toml", {})


def test_config_accepts_telegraf_options_custom_queries_and_collect():
    conf = config("""
address = "postgres://u:pw@db:5432/app?sslmode=disable"
outputaddress = "db01"
databases = ["app"]
ignored_databases = ["template0"]
prepared_statements = false
max_lifetime = "1h"
max_idle = 1
max_open = 1
collect = ["database_size", "activity", "locks", "replication", "wal"]
[[inputs.postgresql.query]]
  sqlquery = "SELECT 1 AS one"
  measurement = "one"
  tagvalue = "a,b"
  timestamp = "t"
  min_version = 1000
  max_version = 1800
[[inputs.postgresql.query]]
  script = "/etc/agent/q.sql"
""")
    options = conf.inputs[0].options
    assert options["max_lifetime"] == 3600.0
    assert [q["measurement"] for q in options["query"] if "measurement" in q] == ["one"]
    assert len(options["query"]) == 2


def test_config_errors_name_the_query_table_and_key():
    with pytest.raises(ConfigError) as caught:
        config('collect = ["size"]\n[[inputs.postgresql.query]]\n  sqlqeury = "SELECT 1"\n'
               '  min_version = "10"\n[[inputs.postgresql.query]]\n  measurement = "x"\n')
    problems = caught.value.problems
    assert problems == [
        "pg.toml: [inputs.postgresql] collect: unknown item 'size' (available: database_size, "
        "activity, locks, replication, wal)",
        "pg.toml: [inputs.postgresql] query[1].sqlqeury: unknown option 'sqlqeury'; did you "
        "mean 'sqlquery'?",
        "pg.toml: [inputs.postgresql] query[1].min_version: expected an integer",
        "pg.toml: [inputs.postgresql] query[1]: needs sqlquery (or script, a file with the SQL)",
        "pg.toml: [inputs.postgresql] query[2]: needs sqlquery (or script, a file with the SQL)",
    ]


def test_config_refuses_a_secret_keyword_libpq_would_not_know():
    with pytest.raises(ConfigError) as caught:
        config('address = "host=db PASSWORD=hunter2"')
    assert caught.value.problems == [
        "pg.toml: [inputs.postgresql] address: libpq keywords are lower case: password, not "
        "PASSWORD"]


def test_config_error_for_a_broken_address_holds_no_password():
    with pytest.raises(ConfigError) as caught:
        config("address = \"host=db password='hunter2 user=x\"")
    assert "address: cannot be parsed" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_postgresql_config_imports_psycopg_only_when_gathering():
    code = (
        "import sys\n"
        "from agent.config.loader import parse\n"
        "from agent.engine.running import RunningInput\n"
        "conf = parse('[[inputs.postgresql]]\\naddress = \"host=/nonexistent\"\\n', 't', {})\n"
        "running = RunningInput(conf.inputs[0], conf, None)\n"
        "running.plugin.start()\n"
        "assert 'psycopg' not in sys.modules, 'imported before gathering'\n"
        "running.gather()\n"
        "assert 'psycopg' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b""


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_backoff_grows_but_never_skips_two_gathers_in_a_row():
    clock = FakeClock()
    backoff = ReconnectBackoff(clock=clock)
    attempts = []
    for tick in range(40):  # a gather every 10 s during a long outage
        clock.now = tick * 10.0
        backoff.gathering()
        if backoff.ready():
            attempts.append(tick)
            backoff.failed()
    gaps = {b - a for a, b in zip(attempts, attempts[1:])}
    assert gaps == {1, 2}, "backs off, but at most one gather is skipped"
    assert attempts[:5] == [0, 1, 2, 3, 4]  # 1, 2, 4, 8 s: shorter than the interval
    assert backoff.succeeded() == (len(attempts), 390.0)
    assert backoff.ready()


# The address as libpq reads it (issue 11 item 12a), judged by libpq itself

LEAKS = [  # each kept part of its secret in Telegraf's server tag
    (r"host=db  password  =  S3cr3t user=u", "host=db  user=u"),  # as Telegraf: one blank cut
    (r"host=db sslpassword=S3cr3t user=u", "host=db user=u"),
    (r"host=db password=S3cr\ 3t user=u", "host=db user=u"),
    (r"password=S3c\'r3t' host=db", "host=db"),
    ("host=db\tpassword\t=\t'S3 cr3t'\vuser=u", "host=db\vuser=u"),
    (r"host=db PASSWORD=S3cr3t Sslpassword=S3cr3t", "host=db"),
    ("postgresql://u:S3cr3t@db/app?sslpassword=S3cr3t&pass%77ord=S3cr3t",
     "dbname=app host=db user=u"),
]


@pytest.mark.parametrize(("address", "tag"), LEAKS)
def test_server_tag_drops_every_spelling_of_a_secret(address, tag):
    assert servertag.server_tag(address) == tag
    assert "S3" not in servertag.server_tag(address)


KEYWORDS = ["host", "port", "dbname", "user", "password", "sslpassword", "application_name",
            "options", "sslmode", "sslkey", "connect_timeout", "passfile", "target_session_attrs"]
BLANKS = st.text(st.sampled_from(" \t\n\v\f\r"), max_size=3)
VALUES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                 max_size=12)


def rendered(value, quoted):
    """A value written as a user may: quoted, or bare with backslash escapes."""
    if quoted or value == "":  # a bare empty value would take the next pair as its value
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "".join("\\" + c if c in " \t\n\v\f\r\\'" else c for c in value)


@st.composite
def keyword_value_addresses(draw):
    pairs = draw(st.lists(st.tuples(st.sampled_from(KEYWORDS), VALUES, st.booleans(),
                                    BLANKS, BLANKS), max_size=6))
    lead = draw(BLANKS)
    return lead + "".join(f"{key}{before}={after}{rendered(value, quoted)}"
                          + draw(BLANKS.map(lambda b: b or " "))
                          for key, value, quoted, before, after in pairs)


def without_dropped(params):
    return {k: v for k, v in params.items() if not servertag.dropped(k)}


@settings(max_examples=500, deadline=None)
@given(address=keyword_value_addresses())
def test_keyword_value_parsing_and_the_tag_agree_with_libpq(address):
    libpq = conninfo_to_dict(address)
    assert dsn.parse(address) == libpq
    tag = servertag.server_tag(address) if address else ""  # "": the default address
    assert conninfo_to_dict(tag) == without_dropped(libpq), "the tag is the rest, intact"


HOSTS = st.one_of(
    st.from_regex(r"[a-z][a-z0-9.-]{0,8}", fullmatch=True),
    st.sampled_from(["[::1]", "[fe80::1%25eth0]", "127.0.0.1", "%2Frun%2Fpostgresql"]),
)
QUERY_KEYS = ["password", "sslpassword", "application_name", "options", "sslmode",
              "connect_timeout", "sslkey"]
PLAIN = VALUES.filter(lambda v: "S" not in v)
SECRET = PLAIN.map(lambda v: "S3cr3t" + v)


def encoded(text):
    return quote(text, safe="")


@st.composite
def urls(draw):
    url = draw(st.sampled_from(["postgresql://", "postgres://"]))
    user = draw(st.none() | PLAIN)
    password = draw(st.none() | SECRET)
    if user is not None or password is not None:
        url += encoded(user or "") + (":" + encoded(password) if password is not None else "")
        url += "@"
    hosts = draw(st.lists(st.tuples(HOSTS, st.none() | st.integers(1, 65535)), min_size=1,
                          max_size=3))
    url += ",".join(h + (f":{p}" if p else "") for h, p in hosts)
    # (Telegraf's tag strips every leading "/" of the path: a database named "/x" is not tried)
    dbname = draw(st.none() | PLAIN.filter(lambda v: not v.startswith("/")))
    if dbname is not None:
        url += "/" + encoded(dbname)
    params = draw(st.lists(st.sampled_from(QUERY_KEYS), max_size=4, unique=True))
    if params:
        url += "?" + "&".join(
            f"{encoded(k)}={encoded(draw(SECRET if 'password' in k else PLAIN))}"
            for k in params)
    return url


@settings(max_examples=500, deadline=None)
@given(url=urls())
def test_url_parsing_agrees_with_libpq_and_the_tag_keeps_no_secret(url):
    libpq = conninfo_to_dict(url)
    assert dsn.parse(url) == libpq
    tag = servertag.server_tag(url)
    assert "S3cr3t" not in tag
    kept = conninfo_to_dict(tag)
    assert not [k for k in kept if servertag.dropped(k)]
    for key in set(kept) - {"host", "port"}:  # hosts and ports are spelled as Telegraf does
        assert kept[key] == libpq.get(key, ""), key  # (and an empty user is kept)


@pytest.mark.parametrize("address", [
    "postgresql://h/d?sslmode", "postgresql://h/d?a=b=c", "postgresql://h/%zz",
    "postgresql://h/d%00", "postgresql://[::1/d", "postgresql://[]/d", "postgresql://h/d?&",
])
def test_urls_libpq_refuses_are_refused(address):
    with pytest.raises(psycopg.ProgrammingError):
        conninfo_to_dict(address)
    with pytest.raises(dsn.AddressError):
        dsn.parse(address)


def test_libpq_details_a_hand_written_parser_gets_wrong():
    cases = ["host=a\xa0 port=5", "host=a\\", "host= port=5", "host=a\vport=5",
             "postgresql://u:p@a@h/d", "postgresql://h/d?application_name=a+b",
             "postgresql://h,,h2:5/d", "postgresql://h/d?sslmode=disable&ssl=true",
             "postgresql://h?user=a@b/d"]
    for address in cases:
        assert dsn.parse(address) == conninfo_to_dict(address), address
