"""While a maintenance window holds its lease, auto-remediation stays suppressed; letting go restores it.

The maintenance-window run notes on its fleet lease (`<cluster>/maintenance-window`) the automation flags it
replaced and the value it wrote, before it writes them. Whoever ends the run puts the previous value back:
the run's own switch-back step, its failure path (the record step), or, for a run that timed out or was stopped,
the abandoned-run rule releasing its lease (logic/guard.py `release_resource`). Only when the flags still hold the
value this run wrote: an operator's kill switch or a later suppression is never clobbered. Whatever happens, the
guard honours the written `suppressedUntil` only until then.
"""

from __future__ import annotations

import json

from remediation.adapters import ssm, state_store
from remediation.domain.maintenance_window import parse_flags, still_ours
from remediation.errors import LeaseLost
from remediation.settings import Settings

LEASE_NOTE = "suppression"


def hold(resource: str, execution_arn: str, parameter: str, previous: str, written: str, settings: Settings) -> dict:
    """Note the suppression on our lease, before the flags are written; raises LeaseLost when the lease is gone."""
    note = {"parameter": parameter, "previous": previous, "written": written}
    if not state_store.note_on_lease(
        settings.state_table, resource, execution_arn, LEASE_NOTE, json.dumps(note, sort_keys=True)
    ):
        raise LeaseLost(f"{resource} is no longer held by this run: the automation flags were not touched")
    return note


def held(resource: str, execution_arn: str, settings: Settings) -> dict | None:
    """The suppression this run noted on its lease, None when there is none (or the lease is not ours)."""
    note = state_store.lease_note(settings.state_table, resource, execution_arn, LEASE_NOTE)
    return json.loads(note) if note else None


def restore(note: dict) -> dict:
    """Put the previous flags back if the parameter still holds what this run wrote; re-read what it holds now."""
    parameter = note["parameter"]
    current = ssm.get_parameter(parameter)
    if not still_ours(current.value, note["written"]):
        return {
            "outcome": "left-as-is",
            "parameter": parameter,
            "why": "the flags were changed during the window by someone else; their value is kept",
            "previous": parse_flags(note["previous"]) or note["previous"],
            "current": parse_flags(current.value) or current.value,
        }
    ssm.put_parameter(parameter, note["previous"])
    after = ssm.get_parameter(parameter)
    return {
        "outcome": "restored",
        "parameter": parameter,
        "previous": parse_flags(note["previous"]) or note["previous"],
        "current": parse_flags(after.value) or after.value,
        "version": after.version,
    }


def let_go(resource: str, released_lease: dict | None) -> dict | None:
    """After a lease is released: undo the suppression it carried (when still ours). None when it carried none."""
    note = (released_lease or {}).get(LEASE_NOTE, {}).get("S")
    if not note:
        return None
    return restore(json.loads(note))
