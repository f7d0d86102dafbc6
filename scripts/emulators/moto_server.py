"""moto's server (moto.server.main), with SQS made fast for queues that hold many messages.

moto 5.2.5 recomputes every attribute of a queue -- including the three ApproximateNumberOf*
counts, each a pass over all its messages -- for every message it sends, and three times for every
message it receives (the retention check reads MessageRetentionPeriod through get_queue_attributes),
and takes the time through datetime arithmetic for each message it looks at. A queue of n messages
so costs O(n) per message sent and per message received: with a few thousand events queued, `make
dev` spent 80 % of moto's time there (py-spy, issue 13). The patches below keep moto's behaviour
and change only how it computes:

- the retention check reads the queue's retention period directly (the same value);
- sending a message no longer computes the ApproximateNumberOf* counts, which it never reads (it
  builds the queue's attributes only to read ContentBasedDeduplication); GetQueueAttributes still
  computes them exactly;
- the current time is time.time(), not datetime arithmetic (the same value).

DynamoDB: moto 5.2.5's TransactWriteItems deep-copies every table a transaction names, once per
item, to roll back a cancelled transaction. The service's audit trail appends each audited request
with a two-item transaction (the record and the chain head, shared/dynamo), so the copies grew with
the table: a schema-fuzzing run took moto past 3 GB resident in three minutes (issue 13). The patch
backs up only the items the transaction names (a deep copy of each, or their absence) and restores
those on a rollback, which is what the whole-table copy restored; nothing else changes.

One patch adds what AWS checks and moto does not (moto lets any role be assumed with any external
id): AssumeRole on a role that exists in moto's IAM and whose trust policy allows sts:AssumeRole
only under an sts:ExternalId condition is refused with AccessDenied, as AWS refuses it, when the
request's external id is not one that condition names. Roles that moto's IAM does not hold, and
trust policies without the condition, are assumed as before. The destination tests paste the
trust policy phiguard generates into such a role and check that another destination's external id
is refused (issue 16).

scripts/emulators runs this file with the virtualenv's Python in place of .venv/bin/moto_server.
Remove a patch once moto no longer needs it.
"""

import copy
import json
import sys
import threading
import time

from moto.core.exceptions import ServiceException
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.iam.models import iam_backends
from moto.server import main
from moto.sqs import models
from moto.sts import models as sts_models
from moto.utilities.utils import get_partition

def _unix_time_millis(dt=None):
    if dt is not None:
        return _original_unix_time_millis(dt)
    return time.time() * 1000.0


_original_unix_time_millis = models.unix_time_millis
models.unix_time_millis = _unix_time_millis


def _is_message_valid_based_on_retention_period(self, queue_name, message):
    queue = self.get_queue(queue_name)
    retain_until = int(queue.message_retention_period) + message.sent_timestamp / 1000
    return retain_until > time.time()


models.SQSBackend.is_message_valid_based_on_retention_period = _is_message_valid_based_on_retention_period

_sending = threading.local()


def _not_while_sending(counted):
    # send_message builds the queue's whole attribute dict only to read ContentBasedDeduplication;
    # while it runs, the counts it would compute are never read, so they are not computed.
    def get(self):
        if getattr(_sending, "active", False):
            return 0
        return counted.fget(self)

    return property(get)


for _name in (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
):
    setattr(models.Queue, _name, _not_while_sending(getattr(models.Queue, _name)))

_original_send_message = models.SQSBackend.send_message


def _send_message(self, *args, **kwargs):
    _sending.active = True
    try:
        return _original_send_message(self, *args, **kwargs)
    finally:
        _sending.active = False


models.SQSBackend.send_message = _send_message


class _AccessDenied(ServiceException):
    code = "AccessDenied"


def _external_ids(document):
    """The external ids a trust policy's Allow statements for sts:AssumeRole require, or None when
    one of them requires none."""
    try:
        statements = json.loads(document).get("Statement", [])
    except (TypeError, ValueError, AttributeError):
        return None
    if isinstance(statements, dict):
        statements = [statements]
    ids = set()
    for st in statements:
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if st.get("Effect") != "Allow" or not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        want = st.get("Condition", {}).get("StringEquals", {}).get("sts:ExternalId")
        if want is None:
            return None
        ids.update([want] if isinstance(want, str) else want)
    return ids


_original_assume_role = sts_models.STSBackend.assume_role


def _assume_role(self, region_name, role_session_name, role_arn, policy, duration, external_id):
    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    role = None
    if account.isdigit():
        try:
            role = iam_backends[account][get_partition(region_name)].get_role_by_arn(role_arn)
        except Exception:  # moto's NotFoundException: a role moto's IAM does not hold
            role = None
    if role is not None:
        ids = _external_ids(role.assume_role_policy_document)
        if ids is not None and external_id not in ids:
            raise _AccessDenied(
                f"User: arn:aws:sts::{self.account_id}:assumed-role/caller is not authorized to perform: "
                f"sts:AssumeRole on resource: {role_arn}"
            )
    return _original_assume_role(self, region_name, role_session_name, role_arn, policy, duration, external_id)


sts_models.STSBackend.assume_role = _assume_role


class _ItemBackups:
    """The copy module as moto's DynamoDB models see it: during a transaction, a deep copy of a
    whole Table is the table itself (the transaction backs up its items instead); any other deep
    copy is a deep copy."""

    _local = threading.local()

    def __getattr__(self, name):
        return getattr(copy, name)

    def deepcopy(self, x, memo=None):
        if getattr(self._local, "in_transaction", False) and isinstance(x, dynamodb_models.Table):
            return x
        return copy.deepcopy(x, memo)


_item_backups = _ItemBackups()
dynamodb_models.copy = _item_backups
_original_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


def _slot(table, op):
    """The hash and range keys of the item a transaction operation names."""
    key = op["Key"] if "Key" in op else op["Item"]
    hash_key = DynamoType(key[table.hash_key_attr])
    range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_key, range_key


def _get(table, hash_key, range_key):
    if range_key is None:
        return table.items.get(hash_key)
    return table.items.get(hash_key, {}).get(range_key)


def _set(table, hash_key, range_key, item):
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    rows = table.items[hash_key]
    if item is None:
        rows.pop(range_key, None)
        if not rows:
            table.items.pop(hash_key, None)
    else:
        rows[range_key] = item


def _transact_write_items(self, transact_items):
    backups = []
    for entry in transact_items:
        try:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is not None:
                hash_key, range_key = _slot(table, op)
                backups.append((table, hash_key, range_key, copy.deepcopy(_get(table, hash_key, range_key))))
        except Exception:  # a malformed operation: moto's own code reports it
            pass
    _item_backups._local.in_transaction = True
    try:
        return _original_transact_write_items(self, transact_items)
    except Exception:
        for table, hash_key, range_key, item in reversed(backups):
            _set(table, hash_key, range_key, item)
        raise
    finally:
        _item_backups._local.in_transaction = False


dynamodb_models.DynamoDBBackend.transact_write_items = _transact_write_items

if __name__ == "__main__":
    sys.exit(main())
