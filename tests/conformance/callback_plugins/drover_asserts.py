# Written for drover's conformance runner (tests/conformance): logs every `assert` result of an
# ansible-playbook run, one JSON object a line, to $DROVER_ASSERT_LOG. The runner counts the
# same results from drover's `--output json` and compares the two.
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

ASSERT_ACTIONS = ('assert', 'ansible.builtin.assert', 'ansible.legacy.assert')


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'drover_asserts'
    CALLBACK_NEEDS_ENABLED = True

    def _log(self, result, status):
        task = getattr(result, 'task', None) or result._task
        if task.action not in ASSERT_ACTIONS:
            return
        host = getattr(result, 'host', None) or result._host
        line = json.dumps({
            'host': host.get_name(),
            'location': task.get_path() or '',
            'status': status,
        })
        with open(os.environ['DROVER_ASSERT_LOG'], 'a', encoding='utf-8') as log:
            log.write(line + '\n')

    def v2_runner_on_ok(self, result):
        self._log(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._log(result, 'failed')
