#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: reboot_pending
short_description: Record in the play that a change waits for a reboot
version_added: 0.1.0
description:
  - Sets the host facts C(lastwords_reboot_required) (true) and C(lastwords_reboot_reasons) (the reasons so far
    in this play, this one added once). The roles of the collection call it when they change something that
    takes effect at the next boot and were not allowed to reboot (C(*_reboot_ok)), so a play can decide after
    all roles have run, for example reboot once with C(ansible.builtin.reboot) when C(lastwords_reboot_required).
  - Until a role records a reason the facts are not defined, so a play tests
    C(lastwords_reboot_required | default(false)).
  - Runs on the controller only and changes nothing on the host. The host keeps its own record in
    C(/run/lastwords/reboot-required), written by the modules that made the change.
author:
  - lastwords developers (!UNKNOWN)  # the project has no GitHub handle yet; ansible-test wants one or this
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  reason:
    description:
      - "What waits for the reboot, as C(<role>: <sentence>)."
      - "For example C(kdump: the crashkernel reservation changed)."
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Record the pending reboot
  lastwords.panic.reboot_pending:
    reason: "kdump: the crashkernel reservation changed"
  when: reservation_changed and not rebooted
"""

RETURN = r"""
reboot_reasons:
  description: The reasons recorded so far in this play, this one included.
  returned: success
  type: list
  elements: str
  sample: ["netconsole: the kernel command line changed", "kdump: the crashkernel reservation changed"]
"""
