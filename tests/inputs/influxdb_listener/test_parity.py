"""Parity: the same bodies to a real InfluxDB 1.x and to the agent's influxdb_listener (which
relays to another database of that InfluxDB). Status and body must be byte for byte the same,
and both databases must end up holding the same points, fields and field types."""

from __future__ import annotations

import gzip
import socket
import uuid

import pytest

from tests import servers
from tests.delivery_helpers import wait_until
from tests.listener_helpers import Listening, ports, request

# {m} is replaced by a prefix of the body's own, so that no body meets another's fields.
BODIES = [
    "{m}cpu,host=a value=1 1\n{m}cpu,host=b value=2 2\n",
    "{m}a v=1 1\n{m}a v= 2\n{m}a v=3 3\n",
    "{m}b v=\n",
    "{m}c\n",
    "{m}d,host= v=1 1\n",
    "{m}d,host v=1 1\n",
    "{m}e v=1 abc\n",
    '{m}f v="unterminated\n',
    "{m}g v=1 1\n{m}g v=x 2\n{m}g v=y 3\n{m}g v=z 4\n",
    "{m}h v=tru 1\n{m}h v=1e 1\n{m}h v=1e400 1\n{m}h v=1e+ 1\n{m}h v=. 1\n{m}h v=+1 1\n",
    "{m}i v=99999999999999999999i 1\n{m}i v=9223372036854775807i,w=-9223372036854775808i 2\n",
    "{m}j,a=1,a=2 v=1 1\n,a=1 v=1 1\n{m}j v=1 1 extra\n{m}j v=1u 1\n",
    "{m}k v=1 9223372036854775807\n{m}k v=1 -9223372036854775806\n{m}k v=1 9223372036854775806\n",
    "{m}l v=NaN 1\n{m}l v=-inf 1\n{m}l v=1. 2\n{m}l v=00012 3\n",
    "{m}n v=1,w 1\n{m}n =1 1\n{m}n v=1,=2 1\n{m}n,=x v=1 1\n{m}n, v=1 1\n{m}n,t=a=b v=1 1\n",
    "{m}o v=1\t1\n{m}o\tv=1 1\n{m}o v=1 1\r\n{m}o v=1 1.5\n",
    '{m}p v="a\\"b\\\\c\\d" 1\n',
    "{m}q\\ x,t\\ k=v\\,w f\\=k=1 1\n",
    "  {m}r v=1 1  \n{m}r v=2  2\n{m}r  v=3 3\n",
    "{m}s v=t,w=F,x=True,y=FALSE 1\n",
    '{m}t v="multi\nline" 1\n',
    "{m}u v=1 1\n\n\n# a comment\n  # another\n{m}u v=2 2",
    "{m}v,b=2,a=1 v=1 1\n{m}v v=-1i,w=-0.5,x=-.5,y=1E3 2\n",
    "{m}w v=1 1\n{m}w v=\"s\" 2\n{m}w v=true 3\n{m}w v=4 4\n",
    "{m}x time=1 1\n",
    "{m}y,time=x v=1 1\n",
    "{m}z time=1,v=2 1\n{m}z v=1,time=1 2\n",
    "{m}aa v=1 1\n{m}aa time=1 2\n{m}aa v=\"x\" 3\n",
    "{m}ab v=1 1\nbad line\n{m}ab v=\"x\" 3\n",
    "{m}ac v=1i,w=1 1\n{m}ac v=2,w=2i 2\n",
    "{m}ad v=1i 1\n{m}ae v=1 1\n{m}ad v=1 2\n{m}ae v=1i 2\n",
    "{m}af v=1 1\n{m}ag x=1i,x=2 2\n",
    "{m}ah x=1i,x=2i 2\n",
    "{m}al x=1 1\n{m}al a=1i,x=1i 2\n{m}al a=1.5 3\n",
    "{m}am a=1i,x=1i,x=2 2\n{m}am a=1.5 3\n",
    '{m}an x=1i,x=2,x="s" 2\n',
    "{m}ao x=1i,y=1,x=2 2\n{m}ao y=1i 3\n",
    "x\ny\n",
    "{m}ai v=1 1\n{m}ai v=1i 604800000000000\n",
    "{m}aj,tag=ä v=\"ü ß\" 1\n{m}aj v=2 2\n",
    "{m}ak v=1 1\\\n{m}ak v=2 2\n",
    "{m}aq\\=x v=1 1\n{m}ar f\\\"k=1,g\\ k=2 1\n",
    "",
    "\n\n",
]


@pytest.fixture(scope="module")
def pair(influxdb1, tmp_path_factory):
    """(influxdb1, direct database, relay database, agent port)."""
    tag = uuid.uuid4().hex[:8]
    direct, relay = f"direct_{tag}", f"relay_{tag}"
    influxdb1.create_database(direct)
    influxdb1.create_database(relay)
    (port,) = ports(1)
    plugins = (f'[[inputs.influxdb_listener]]\n  service_address = "127.0.0.1:{port}"\n'
               f'  max_body_size = 25000000\n'
               f'[[outputs.influxdb]]\n  urls = ["{influxdb1.url}"]\n  database = "{relay}"\n')
    with Listening(tmp_path_factory.mktemp("parity"), plugins, [port]) as agent:
        yield influxdb1, direct, relay, port
        agent.terminate()


def both(pair, path: str, body: bytes = b"", headers=None, method: str = "POST"):
    influx, direct, relay, port = pair
    theirs = request(influx.port, method, path.format(db=direct), body, headers)
    ours = request(port, method, path.format(db=relay), body, headers)
    return theirs, ours


def test_every_body_gets_influxdbs_answer_and_the_same_points_land(pair):
    mismatches = []
    for index, template in enumerate(BODIES):
        body = template.replace("{m}", f"p{index}_").encode()
        theirs, ours = both(pair, "/write?db={db}", body)
        if (theirs.status, theirs.body) != (ours.status, ours.body):
            mismatches.append((template, (theirs.status, theirs.body), (ours.status, ours.body)))
    assert mismatches == []
    influx, direct, relay, _ = pair
    expected = contents(influx, direct)
    assert len(expected) > 20, "the corpus writes points"
    wait_until(lambda: contents(influx, relay) == expected, 30)
    assert contents(influx, relay) == expected
    assert field_types(influx, relay, expected) == field_types(influx, direct, expected)


@pytest.mark.parametrize("precision", ["s", "ms", "u", "m", "h", "ns", "n", "us", "bogus"])
def test_precision_as_influxdb_reads_it(pair, precision):
    name = f"prec_{precision}"
    body = f"{name} v=1 1\n{name} v=2 2562047\n{name} v=3 9300000000\n".encode()
    theirs, ours = both(pair, "/write?db={db}&precision=" + precision, body)
    assert (ours.status, ours.body) == (theirs.status, theirs.body)
    influx, direct, relay, _ = pair
    expected = rows(influx, direct, name)
    wait_until(lambda: rows(influx, relay, name) == expected, 20)
    assert rows(influx, relay, name) == expected and expected


@pytest.mark.parametrize("label,body", [
    ("valid", gzip.compress(b"gz v=1 1\ngz v=2 2\n")),
    ("short, not gzip", b"not gzip"),
    ("long, not gzip", b"this is certainly not gzip data\n"),
    ("truncated", gzip.compress(b"gz v=1 1\n")[:-6]),
    ("empty", b""),
])
def test_gzip_bodies(pair, label, body):
    theirs, ours = both(pair, "/write?db={db}", body, {"Content-Encoding": "gzip"})
    assert (ours.status, ours.body) == (theirs.status, theirs.body)


@pytest.mark.parametrize("method,path", [
    ("GET", "/write?db={db}"), ("PUT", "/write?db={db}"), ("GET", "/nope"), ("GET", "/ping"),
    ("HEAD", "/ping"),
])
def test_other_requests(pair, method, path):
    theirs, ours = both(pair, path, method=method)
    assert (ours.status, ours.body) == (theirs.status, theirs.body)


def test_body_over_the_limit_is_413_before_it_is_read(pair):
    """InfluxDB 1.x's max-body-size is 25 MB by default; the listener here has the same."""
    influx, direct, relay, port = pair
    answers = [_declared_only(influx.port, direct), _declared_only(port, relay)]
    assert answers[0].startswith(b"HTTP/1.1 413 ")
    assert _body(answers[1]) == _body(answers[0]) == b'{"error":"Request Entity Too Large"}\n'


def _declared_only(port: int, db: str) -> bytes:
    """Send headers announcing 26 MB and no body; the answer comes anyway."""
    with socket.create_connection((servers.LOCALHOST, port), timeout=10) as sock:
        sock.sendall(f"POST /write?db={db} HTTP/1.1\r\nHost: x\r\nContent-Length: 26000000\r\n"
                     "\r\n".encode())
        data = b""
        while True:  # both close the connection after a 413
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk


def _body(response: bytes) -> bytes:
    return response.split(b"\r\n\r\n", 1)[1]


def contents(influx, db: str) -> dict:
    """{measurement: rows} of the points of a whole database (times in ns, no empty columns).
    InfluxDB also keeps the names of measurements and fields whose points it dropped; those
    are not points, and the relay never sees them."""
    result = {}
    for (name,) in _values(influx, "SHOW MEASUREMENTS", db):
        found = [{k: v for k, v in row.items() if v is not None}
                 for row in rows(influx, db, name)]
        if found:
            result[name] = found
    return result


def rows(influx, db: str, measurement: str) -> list:
    quoted = measurement.replace("\\", "\\\\").replace('"', '\\"')
    return influx.rows(f'SELECT * FROM "{quoted}"', db=db)


def field_types(influx, db: str, points: dict) -> list:
    """(measurement, field, type) of the fields that hold values."""
    present = {(name, key) for name, found in points.items() for row in found for key in row}
    return sorted((name, key, kind)
                  for name, pairs in _values(influx, "SHOW FIELD KEYS", db, every_series=True)
                  for key, kind in pairs if (name, key) in present)


def _values(influx, query: str, db: str, every_series: bool = False) -> list:
    result = influx.query(query, db=db)["results"][0]
    series = result.get("series") or []
    if every_series:
        return sorted((s["name"], tuple(map(tuple, s["values"]))) for s in series)
    return series[0]["values"] if series else []


@pytest.fixture(scope="module")
def auth_pair(tmp_path_factory):
    """An InfluxDB 1.x with auth on, and a listener with basic_username/basic_password."""
    from tests.conftest import start_server

    influx = start_server(servers.InfluxDB1, username="writer", password="s3cret")
    influx.create_database("authdb")
    (port,) = ports(1)
    plugins = (f'[[inputs.influxdb_listener]]\n  service_address = "127.0.0.1:{port}"\n'
               f'  basic_username = "writer"\n  basic_password = "s3cret"\n'
               f'[[outputs.file]]\n  files = ["{tmp_path_factory.mktemp("a")}/out.lp"]\n')
    with Listening(tmp_path_factory.mktemp("auth"), plugins, [port]) as agent:
        yield influx, port, agent
        agent.terminate()
    influx.close()


@pytest.mark.parametrize("query,headers", [
    ("", {}),
    ("&u=writer&p=wrong", {}),
    ("&u=writer&p=s3cret", {}),
    ("", {"Authorization": "Basic d3JpdGVyOnMzY3JldA=="}),  # writer:s3cret
    ("", {"Authorization": "Basic d3JpdGVyOm5vcGU="}),  # writer:nope
    ("&u=nobody&p=s3cret", {}),
])
def test_credentials_are_judged_as_influxdb_judges_them(auth_pair, query, headers):
    influx, port, agent = auth_pair
    path = "/write?db=authdb" + query
    theirs = request(influx.port, "POST", path, b"auth v=1 1\n", headers)
    ours = request(port, "POST", path, b"auth v=1 1\n", headers)
    assert (ours.status, ours.body) == (theirs.status, theirs.body)
    assert "s3cret" not in agent.stderr()
