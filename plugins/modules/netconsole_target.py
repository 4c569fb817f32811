#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: netconsole_target
short_description: Manage one netconsole target through configfs
version_added: 0.1.0
description:
  - Creates, changes, enables, disables and removes one dynamic netconsole target, the directory
    C(/sys/kernel/config/netconsole/<name>) of a kernel built with C(CONFIG_NETCONSOLE_DYNAMIC).
  - Follows the kernel's rules. Creating a target is a C(mkdir), after which the kernel fills in the
    attribute files with its defaults. Attributes can be written only while C(enabled) is C(0), so a
    change to an enabled target writes C(enabled=0), then only the attributes that differ, then
    C(enabled=1). Removing a target disables it, then removes the directory.
  - Values are compared the way the kernel prints them (MAC in lower case, ports as numbers, IP
    addresses by value), so an unchanged target reports no change and is not disturbed.
  - Inputs are validated before anything is written. The module fails, and names the option, when a
    value would be refused by the kernel or when the receiver's MAC address cannot be found.
  - The runtime target does not survive a reboot or an unload of the module; the
    C(lastwords.panic.netconsole) role persists netconsole.
author:
  - lastwords developers (!UNKNOWN)  # the project has no GitHub handle yet; ansible-test wants one or this
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads configfs and the routing and neighbour tables, and reports the writes it would make.
      To find an unknown remote MAC address it may send one empty UDP datagram to the next hop.
  diff_mode:
    support: full
  platform:
    platforms: posix
    details: Linux only, with configfs mounted and the C(netconsole) module loaded.
requirements:
  - Linux with C(CONFIG_NETCONSOLE_DYNAMIC) and configfs mounted on C(/sys/kernel/config).
  - The C(ip) command of iproute2 with JSON output (C(ip -j)), unless I(dev_name), I(local_ip) and
    I(remote_mac) are all given.
options:
  name:
    description:
      - Name of the target, the directory created under I(configfs_root).
      - Targets given on the C(netconsole=) boot or module parameter appear as C(cmdline0),
        C(cmdline1), ... on Linux 6.7 and later when a directory of that name is created.
    type: str
    required: true
  state:
    description:
      - C(present) creates the target if needed and makes its attributes match the options.
      - C(absent) disables the target and removes it. A missing I(configfs_root) counts as absent.
    type: str
    choices: [present, absent]
    default: present
  enabled:
    description:
      - Whether the target sends messages. C(false) keeps a configured but silent target.
    type: bool
    default: true
  dev_name:
    description:
      - Network interface the messages leave from, for example C(eth1).
      - Default is the interface of the route to I(remote_ip) (C(ip route get)).
      - At most 15 bytes, without C(/), C(:) or whitespace.
    type: str
  local_ip:
    description:
      - Source address of the UDP datagrams.
      - Default is the first address of I(dev_name) of the same IP version as I(remote_ip), a global
        address, or a link-local one when I(remote_ip) is link-local.
    type: str
  local_port:
    description:
      - Source UDP port, 1-65535.
    type: int
    default: 6665
  remote_ip:
    description:
      - Address of the log receiver, IPv4 or IPv6 (without a zone index such as C(%eth0)).
      - Required when I(state=present).
    type: str
  remote_port:
    description:
      - UDP port the receiver listens on, 1-65535.
    type: int
    default: 6666
  remote_mac:
    description:
      - Ethernet address the datagrams are sent to, written C(aa:bb:cc:dd:ee:ff).
      - When not given it is resolved on every run. If I(remote_ip) is on a subnet directly
        connected to I(dev_name), the receiver's own MAC address is used; otherwise the MAC address
        of the gateway of the route to I(remote_ip). Netconsole cannot use ARP or neighbour
        discovery when the kernel is dying, which is why the address is fixed here.
      - When the neighbour table has no entry yet, one empty UDP datagram is sent to the next hop
        (port 9, discard) to make the kernel resolve it, and the table is polled for up to
        I(resolve_timeout) seconds.
      - The module never falls back to the broadcast address silently. It fails, naming
        I(remote_mac), when resolution fails. Give C(ff:ff:ff:ff:ff:ff) explicitly to broadcast.
    type: str
  extended:
    description:
      - Send the extended format, C(<level>,<seq>,<ts_usec>,<flags>;text), which lets the receiver
        notice lost messages and reboots (see M(lastwords.panic.netconsole_log)).
    type: bool
    default: false
  release:
    description:
      - Prepend the kernel release to every message, C(6.1.0-47-amd64,6,1234,...;text).
      - Needs I(extended=true) and Linux 6.5 or later (the C(release) attribute).
    type: bool
    default: false
  resolve_timeout:
    description:
      - Seconds to wait for the neighbour table to learn the MAC address of the next hop when
        I(remote_mac) is not given.
    type: float
    default: 3.0
  configfs_root:
    description:
      - Directory holding the netconsole targets.
      - Only for tests and chroots; leave the default on real hosts.
    type: path
    default: /sys/kernel/config/netconsole
notes:
  - Netconsole only sends messages at or above the console log level; raise it (C(kernel.printk),
    C(dmesg -n 8)) to send more than urgent messages.
  - Older kernels (6.1 and 6.12 among them) refuse to write an IPv4 address to a target that holds
    IPv6 ones, so a change from IPv6 to IPv4 removes and re-creates the target.
seealso:
  - name: Netconsole documentation
    description: The kernel's description of the parameters and of the configfs interface.
    link: https://docs.kernel.org/networking/netconsole.html
  - module: lastwords.panic.netconsole_log
"""

EXAMPLES = r"""
- name: Send kernel messages to the log receiver, MAC address resolved
  lastwords.panic.netconsole_target:
    name: lastwords
    dev_name: eth1
    remote_ip: 192.168.50.10
    extended: true

- name: Send to a receiver behind a router, every value given
  lastwords.panic.netconsole_target:
    name: offsite
    dev_name: eth0
    local_ip: 10.0.2.15
    local_port: 6665
    remote_ip: 10.0.2.2
    remote_port: 6666
    remote_mac: "52:55:0a:00:02:02"

- name: Keep the target but stop sending
  lastwords.panic.netconsole_target:
    name: lastwords
    remote_ip: 192.168.50.10
    enabled: false

- name: Remove the target
  lastwords.panic.netconsole_target:
    name: lastwords
    state: absent
"""

RETURN = r"""
name:
  description: Name of the target.
  returned: always
  type: str
  sample: lastwords
state:
  description: Whether the target exists after the run (or would, in check mode).
  returned: always
  type: str
  sample: present
enabled:
  description: Whether the target sends messages.
  returned: when I(state=present)
  type: bool
  sample: true
dev_name:
  description: Interface the target sends from.
  returned: when I(state=present)
  type: str
  sample: eth1
local_ip:
  description: Source address, as the kernel prints it.
  returned: when I(state=present)
  type: str
  sample: 192.168.50.21
local_port:
  description: Source UDP port.
  returned: when I(state=present)
  type: int
  sample: 6665
remote_ip:
  description: Receiver's address, as the kernel prints it.
  returned: when I(state=present)
  type: str
  sample: 192.168.50.10
remote_port:
  description: Receiver's UDP port.
  returned: when I(state=present)
  type: int
  sample: 6666
remote_mac:
  description: Ethernet address the datagrams go to.
  returned: when I(state=present)
  type: str
  sample: "52:54:00:ab:cd:ef"
extended:
  description: Whether the extended format is sent.
  returned: when I(state=present)
  type: bool
  sample: true
release:
  description: Whether the kernel release is prepended (always false on kernels without the attribute).
  returned: when I(state=present)
  type: bool
  sample: false
local_mac:
  description: MAC address of I(dev_name) as the kernel reports it (read-only; broadcast while disabled).
    Null when the target does not exist yet (check mode).
  returned: when I(state=present)
  type: str
  sample: "52:54:00:12:34:56"
transmit_errors:
  description: Datagrams the kernel failed to send (read-only). Null on kernels without the attribute
    or when the target does not exist yet (check mode).
  returned: when I(state=present)
  type: int
  sample: 0
writes:
  description: Changes made in order (C(mkdir), C(attribute=value), C(rmdir)); in check mode the
    changes that would be made.
  returned: always
  type: list
  elements: str
  sample: ["enabled=0", "remote_mac=52:54:00:ab:cd:ef", "enabled=1"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastwords.panic.plugins.module_utils._netconsole import (
    DEFAULT_LOCAL_PORT,
    DEFAULT_REMOTE_PORT,
    ConfigfsTarget,
    HostNetwork,
    NetconsoleValueError,
    TargetError,
    run,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            enabled=dict(type="bool", default=True),
            dev_name=dict(type="str"),
            local_ip=dict(type="str"),
            local_port=dict(type="int", default=DEFAULT_LOCAL_PORT),
            remote_ip=dict(type="str"),
            remote_port=dict(type="int", default=DEFAULT_REMOTE_PORT),
            remote_mac=dict(type="str"),
            extended=dict(type="bool", default=False),
            release=dict(type="bool", default=False),
            resolve_timeout=dict(type="float", default=3.0),
            configfs_root=dict(type="path", default="/sys/kernel/config/netconsole"),
        ),
        required_if=[("state", "present", ("remote_ip",))],
        supports_check_mode=True,
    )
    target = ConfigfsTarget(module.params["configfs_root"], module.params["name"])
    net = HostNetwork(module.run_command, module.get_bin_path("ip"), timeout=module.params["resolve_timeout"])
    try:
        result = run(module.params, target, net, check_mode=module.check_mode, want_diff=module._diff)
    except NetconsoleValueError as exc:
        module.fail_json(msg=str(exc), name=module.params["name"], writes=list(target.writes))
    except TargetError as exc:
        module.fail_json(msg=exc.msg, name=module.params["name"], writes=list(target.writes), **exc.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
