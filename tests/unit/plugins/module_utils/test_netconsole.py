"""_netconsole (validators, the netconsole= parameter) and _netconsole_wire (what netconsole sends).

Parameter examples are the ones of the kernel's Documentation/networking/netconsole.rst; extended records
are shaped like the kernel's (printk's ext header, netconsole's ncfrag split at 1000 bytes) and like the
messages facebook/netconsd's ncrx test generator sends.
"""

import pytest

from ansible_collections.lastwords.panic.plugins.module_utils._netconsole import (
    NetconsoleValueError,
    format_param,
    format_target,
    ip_version,
    parse_param,
    parse_target,
    same_ip,
    validate_dev_name,
    validate_ip,
    validate_mac,
    validate_port,
)
from ansible_collections.lastwords.panic.plugins.module_utils._netconsole_wire import (
    MAX_PRINT_CHUNK,
    FragmentAssembler,
    parse_extended,
    parse_message,
    parse_plain,
    split_body,
    unescape_rsyslog,
)

UNSET_V4 = "0.0.0.0"  # noqa: S104 - the kernel's unset address, nothing binds to it


def kernel_fragments(header, body, release=None):
    """Split an extended record the way netconsole does when it is longer than MAX_PRINT_CHUNK.

    Every packet repeats the header (with the release in front when `r` is on), adds
    `,ncfrag=<offset>/<total>;` and carries as much of the body as fits in MAX_PRINT_CHUNK bytes.
    """
    data = body.encode()
    prefix = ("%s,%s" % (release, header)) if release else header
    packets, sent = [], 0
    while sent < len(data):
        head = "%s,ncfrag=%d/%d;" % (prefix, sent, len(data))
        room = MAX_PRINT_CHUNK - len(head)
        chunk = data[sent : sent + room]
        packets.append(head + chunk.decode())
        sent += len(chunk)
    return packets


# --------------------------------------------------------------------------------------------- validators


@pytest.mark.parametrize("value, expected", [(1, 1), (6666, 6666), ("6665", 6665), (65535, 65535)])
def test_validate_port_accepts(value, expected):
    assert validate_port(value, "remote_port") == expected


@pytest.mark.parametrize("value", [0, 65536, -1, "66x", "", " 6666", True, None, 6666.0])
def test_validate_port_rejects_and_names_the_field(value):
    with pytest.raises(NetconsoleValueError) as info:
        validate_port(value, "remote_port")
    assert info.value.field == "remote_port"
    assert str(info.value).startswith("remote_port: ")
    assert "1 to 65535" in str(info.value)


def test_validate_ip_canonical_forms():
    assert validate_ip("192.168.50.10") == "192.168.50.10"
    assert validate_ip("FD00:0:0:0::0001") == "fd00::1"
    assert validate_ip("fd00:1:2:3::1") == "fd00:1:2:3::1"
    assert ip_version("fd00::1") == 6
    assert ip_version("10.0.0.2") == 4


@pytest.mark.parametrize(
    "value, words",
    [
        ("fe80::1%eth0", "zone index"),
        ("10.0.0.0/24", "without /prefix"),
        ("10.0.0.256", "not a valid"),
        ("eth0", "not a valid"),
        ("", "IPv4 or IPv6"),
    ],
)
def test_validate_ip_rejects(value, words):
    with pytest.raises(NetconsoleValueError) as info:
        validate_ip(value, "remote_ip")
    assert info.value.field == "remote_ip"
    assert words in str(info.value)


def test_unspecified_remote_is_refused_but_local_is_fine():
    assert validate_ip(UNSET_V4, "local_ip") == UNSET_V4
    with pytest.raises(NetconsoleValueError, match="unspecified"):
        validate_ip("::", "remote_ip", allow_unspecified=False)


def test_same_ip_compares_by_value():
    assert same_ip("fd00:0::1", "fd00::1")
    assert not same_ip("10.0.0.1", "10.0.0.2")
    assert same_ip(None, None)
    assert not same_ip("10.0.0.1", None)


def test_validate_mac_lowercases():
    assert validate_mac("52:55:0A:00:02:02") == "52:55:0a:00:02:02"


@pytest.mark.parametrize("value", ["52-55-0a-00-02-02", "52:55:0a:00:02", "52:55:0a:00:02:0g", "525:50a:00:02:02:0"])
def test_validate_mac_rejects_with_the_expected_form(value):
    with pytest.raises(NetconsoleValueError) as info:
        validate_mac(value, "remote_mac")
    assert info.value.field == "remote_mac"
    assert "aa:bb:cc:dd:ee:ff" in str(info.value)


def test_validate_dev_name_accepts_the_kernel_maximum():
    assert validate_dev_name("enp0s31f6") == "enp0s31f6"
    assert validate_dev_name("x" * 15) == "x" * 15


@pytest.mark.parametrize(
    "value, words",
    [
        ("x" * 16, "at most 15"),
        ("é" * 8, "16 bytes"),
        (".", "not a valid"),
        ("..", "not a valid"),
        ("eth/0", "'/'"),
        ("eth0:1", "':'"),
        ("eth 0", "' '"),
        ("eth\t0", "'\\t'"),
        ("", "interface name"),
    ],
)
def test_validate_dev_name_follows_dev_valid_name(value, words):
    with pytest.raises(NetconsoleValueError) as info:
        validate_dev_name(value)
    assert info.value.field == "dev_name"
    assert words in str(info.value)


# --------------------------------------------------------------------------------------------- netconsole=


def test_format_target_documentation_examples():
    assert (
        format_target(
            "10.0.0.2", remote_port=9353, remote_mac="12:34:56:78:9A:BC", local_ip="10.0.0.1", local_port=4444,
            dev_name="eth1",
        )
        == "4444@10.0.0.1/eth1,9353@10.0.0.2/12:34:56:78:9a:bc"
    )
    assert format_target("10.0.0.2") == "@/,@10.0.0.2/"
    assert format_target("fd00:1:2:3::1") == "@/,@fd00:1:2:3::1/"
    assert (
        format_target("10.0.0.2", remote_port=9353, remote_mac="12:34:56:78:9a:bc", local_ip="10.0.0.1",
                      local_port=4444, dev_name="eth1", extended=True)
        == "+4444@10.0.0.1/eth1,9353@10.0.0.2/12:34:56:78:9a:bc"
    )
    assert format_target("10.0.0.2", extended=True, release=True) == "+r@/,@10.0.0.2/"


def test_format_target_refusals_name_the_field():
    with pytest.raises(NetconsoleValueError) as info:
        format_target("10.0.0.2", release=True)
    assert info.value.field == "release"
    with pytest.raises(NetconsoleValueError) as info:
        format_target("fd00::2", local_ip="10.0.0.1")
    assert info.value.field == "local_ip"
    with pytest.raises(NetconsoleValueError) as info:
        format_target("10.0.0.2", dev_name="eth,1")
    assert info.value.field == "dev_name"
    with pytest.raises(NetconsoleValueError) as info:
        format_target(UNSET_V4)
    assert info.value.field == "remote_ip"


def test_format_param_joins_targets_like_the_documentation():
    value = format_param(
        [{"remote_ip": "10.0.0.2"}, {"remote_ip": "10.0.0.3", "dev_name": "eth1", "remote_port": 6892}]
    )
    assert value == "@/,@10.0.0.2/;@/eth1,6892@10.0.0.3/"


def test_format_param_errors_say_which_target():
    with pytest.raises(NetconsoleValueError) as info:
        format_param([{"remote_ip": "10.0.0.2"}, {"remote_ip": "10.0.0.3", "remote_mac": "nope"}])
    assert info.value.field == "targets[1].remote_mac"
    with pytest.raises(NetconsoleValueError, match="targets"):
        format_param([])
    with pytest.raises(NetconsoleValueError, match=r"targets\[0\]"):
        format_param([{"remote_ip": "10.0.0.2", "colour": "blue"}])


def test_format_param_respects_the_kernel_buffer():
    many = [{"remote_ip": "fd00:1:2:3:4:5:6:%d" % i, "local_ip": "fd00:1:2:3:4:5:7:%d" % i} for i in range(7)]
    assert len(format_param(many[:6])) == 251
    with pytest.raises(NetconsoleValueError, match="293 characters; the kernel keeps at most 255"):
        format_param(many)


def test_parse_target_full_and_empty_forms():
    assert parse_target("+4444@10.0.0.1/eth1,9353@10.0.0.2/12:34:56:78:9a:bc") == {
        "extended": True,
        "release": False,
        "local_port": 4444,
        "local_ip": "10.0.0.1",
        "dev_name": "eth1",
        "dev_mac": None,
        "remote_port": 9353,
        "remote_ip": "10.0.0.2",
        "remote_mac": "12:34:56:78:9a:bc",
    }
    minimal = parse_target("@/,@10.0.0.2/")
    assert (minimal["local_port"], minimal["remote_port"]) == (6665, 6666)
    assert minimal["local_ip"] is minimal["dev_name"] is minimal["remote_mac"] is None


def test_parse_target_ipv6_is_bare_and_dev_may_be_a_mac():
    target = parse_target("+r6665@fd00::1/eth0,6666@fd00::2/52:54:00:ab:cd:ef")
    assert target["release"] and target["extended"]
    assert (target["local_ip"], target["remote_ip"]) == ("fd00::1", "fd00::2")
    by_mac = parse_target("4444@10.0.0.1/22:33:44:55:66:77,9353@10.0.0.2/12:34:56:78:9a:bc")
    assert by_mac["dev_mac"] == "22:33:44:55:66:77"
    assert by_mac["dev_name"] is None


@pytest.mark.parametrize(
    "text, field",
    [
        ("r@/,@10.0.0.2/", "release"),
        ("@/,@/", "remote_ip"),
        ("@/,@10.0.0.2", "remote_ip"),
        ("99999@/,@10.0.0.2/", "local_port"),
        ("@10.0.0.1/eth0,@fd00::2/", "local_ip"),
        ("@/,@10.0.0.2/12:34", "remote_mac"),
        ("6665/eth0,@10.0.0.2/", "local_port"),
    ],
)
def test_parse_target_rejects(text, field):
    with pytest.raises(NetconsoleValueError) as info:
        parse_target(text)
    assert info.value.field == field


def test_parse_param_several_targets_quoted():
    targets = parse_param('netconsole="@/,@10.0.0.2/;@/eth1,6892@10.0.0.3/"')
    assert [t["remote_ip"] for t in targets] == ["10.0.0.2", "10.0.0.3"]
    assert targets[1]["dev_name"] == "eth1"
    assert targets[1]["remote_port"] == 6892
    with pytest.raises(NetconsoleValueError) as info:
        parse_param("@/,@10.0.0.2/;@/eth1,6892@10.0.0/")
    assert info.value.field == "targets[1].remote_ip"


@pytest.mark.parametrize(
    "target",
    [
        {"remote_ip": "192.168.50.10", "remote_mac": "52:54:00:ab:cd:ef", "dev_name": "eth1",
         "local_ip": "192.168.50.21", "local_port": 6665, "remote_port": 514, "extended": True, "release": True},
        {"remote_ip": "fd00::10", "local_ip": "fd00::21", "dev_name": "ens3"},
    ],
)
def test_format_then_parse_round_trips(target):
    parsed = parse_target(format_target(**target))
    for key, value in target.items():
        assert parsed[key] == value


# --------------------------------------------------------------------------------------------- messages


def test_parse_plain_keeps_frame_indentation():
    assert parse_plain("[  123.456789] sysrq: Trigger a crash\n") == {
        "format": "plain",
        "kernel_time": 123.456789,
        "text": "sysrq: Trigger a crash",
    }
    assert parse_plain("[  123.459030]  dump_stack_lvl+0x44/0x5c")["text"] == " dump_stack_lvl+0x44/0x5c"
    assert parse_plain("Trigger a crash") == {"format": "plain", "kernel_time": None, "text": "Trigger a crash"}


def test_parse_extended_header_and_level():
    record = parse_extended("0,1524,123457112,-;Kernel panic - not syncing: sysrq triggered crash")
    assert record["release"] is None
    assert (record["level"], record["facility"], record["severity"]) == (0, 0, 0)
    assert (record["seq"], record["ts_usec"], record["flags"]) == (1524, 123457112, "-")
    assert record["text"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert record["frag"] is None


def test_parse_extended_user_message_from_dev_kmsg_with_dictionary():
    record = parse_extended("12,607,22085407756,-;This is a message\n foo=bar\n qux=baz\n")
    assert (record["facility"], record["severity"]) == (1, 4)  # LOG_USER, warning: /dev/kmsg's default
    assert record["text"] == "This is a message"
    assert record["dictionary"] == {"foo": "bar", "qux": "baz"}


def test_parse_extended_release_prefix():
    record = parse_extended("6.4.0,6,444,501151268,-;netconsole: network logging started")
    assert record["release"] == "6.4.0"
    assert record["seq"] == 444
    debian = parse_extended("6.1.0-47-amd64,4,1530,123459296,-; panic+0x118/0x2ec")
    assert debian["release"] == "6.1.0-47-amd64"
    assert debian["text"] == " panic+0x118/0x2ec"


def test_parse_extended_netconsd_generator_shape():
    # facebook/netconsd's netcons-gen.py: LOG_ERR, continuation flag 'c', dictionary without the space.
    record = parse_extended("3,17,5402873,c;hi\nUNAME=it's minix i swear")
    assert (record["severity"], record["seq"], record["flags"]) == (3, 17, "c")
    assert record["dictionary"] == {"UNAME": "it's minix i swear"}


@pytest.mark.parametrize(
    "payload",
    [
        "[  123.456789] sysrq: Trigger a crash",
        "sysrq: Trigger a crash",
        "6,12;short header",
        "a,b,c,d;letters",
        "6,416,1758426,-,ncfrag=31/31;past the end",
        "6,416,1758426,-,ncfrag=x/31;bad",
    ],
)
def test_parse_extended_refuses_other_lines(payload):
    assert parse_extended(payload) is None


def test_parse_message_picks_the_format():
    assert parse_message("6,1,2,-;hello")["format"] == "extended"
    assert parse_message("[    0.000000] Linux version 6.1.0-47-amd64")["format"] == "plain"


def test_split_body_ignores_text_that_is_not_a_pair():
    assert split_body("text\n SUBSYSTEM=pci\n DEVICE=+pci:0000:00:02.0\n no pair here") == (
        "text",
        {"SUBSYSTEM": "pci", "DEVICE": "+pci:0000:00:02.0"},
    )


def test_unescape_rsyslog_control_characters_only():
    assert unescape_rsyslog("6,1,2,-;text#012 SUBSYSTEM=net#012") == "6,1,2,-;text\n SUBSYSTEM=net\n"
    assert unescape_rsyslog("a#011b") == "a\tb"
    assert unescape_rsyslog("issue #123 and #0") == "issue #123 and #0"


# --------------------------------------------------------------------------------------------- fragments


def test_documentation_fragments_reassemble_in_any_order():
    first = parse_extended("6,416,1758426,-,ncfrag=0/31;the first chunk,")
    second = parse_extended("6,416,1758426,-,ncfrag=16/31; the 2nd chunk.")
    assert first["frag"] == (0, 31) and first["text"] is None
    for order in ([first, second], [second, first]):
        assembler = FragmentAssembler()
        assert assembler.add(dict(order[0])) == []
        (record,) = assembler.add(dict(order[1]))
        assert record["text"] == "the first chunk, the 2nd chunk."
        assert record["seq"] == 416
        assert "incomplete" not in record
        assert len(assembler) == 0


def test_kernel_sized_fragments_with_userdata_and_release():
    modules = " ".join("mod%02d_%s" % (i, "x" * 20) for i in range(60))
    body = "Modules linked in: " + modules + "\n cpu=1\n taskname=kworker/1:2\n"
    packets = kernel_fragments("4,1491,98765432,-", body, release="6.12.38+deb13-amd64")
    assert len(packets) == 2
    assert all(len(packet.encode()) <= MAX_PRINT_CHUNK for packet in packets)
    assembler = FragmentAssembler()
    done = []
    for packet in packets:
        done += assembler.add(parse_extended(packet))
    (record,) = done
    assert record["release"] == "6.12.38+deb13-amd64"
    assert record["text"] == "Modules linked in: " + modules
    assert record["dictionary"] == {"cpu": "1", "taskname": "kworker/1:2"}


def test_fragment_missing_the_newline_a_receiver_dropped_is_repaired():
    body = "A" * 1500 + "\n release=6.12.38+deb13-amd64\n"
    packets = kernel_fragments("6,77,1000,-", body)
    assert packets[-1].endswith("\n")
    packets[-1] = packets[-1][:-1]  # what rsyslog's DropTrailingLFOnReception does
    assembler = FragmentAssembler()
    done = assembler.add(parse_extended(packets[0])) + assembler.add(parse_extended(packets[1]))
    assert len(done) == 1
    assert done[0]["dictionary"] == {"release": "6.12.38+deb13-amd64"}


def test_duplicate_fragment_is_harmless_and_lost_one_is_reported():
    packets = kernel_fragments("6,500,1,-", "B" * 2500)
    assert len(packets) == 3
    assembler = FragmentAssembler()
    assert assembler.add(parse_extended(packets[0])) == []
    assert assembler.add(parse_extended(packets[0])) == []
    assert assembler.add(parse_extended(packets[2])) == []
    (record,) = assembler.flush()
    assert record["incomplete"] is True
    assert record["missing_bytes"] == len(parse_extended(packets[1])["body"].encode())


def test_assembler_gives_up_the_oldest_when_full():
    assembler = FragmentAssembler(max_pending=2)
    for seq in (1, 2):
        assert assembler.add(parse_extended("6,%d,9,-,ncfrag=0/10;01234" % seq)) == []
    (evicted,) = assembler.add(parse_extended("6,3,9,-,ncfrag=0/10;01234"))
    assert (evicted["seq"], evicted["incomplete"]) == (1, True)
    assert len(assembler) == 2


def test_fragment_overrun_is_an_error():
    assembler = FragmentAssembler()
    with pytest.raises(NetconsoleValueError) as info:
        assembler.add(parse_extended("6,9,9,-,ncfrag=5/8;123456789"))
    assert info.value.field == "ncfrag"


def test_unfragmented_records_pass_through():
    record = parse_extended("6,1,2,-;plain record")
    assert FragmentAssembler().add(record) == [record]
