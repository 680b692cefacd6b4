"""The inbound spool: messages the database could not take, kept on local disk until it is back.

One append-only file per database under `[spool] dir`. Each record is one line, `<crc32> <json>\n`,
written and fsynced under a lock file before the webhook answers. A replay (one process at a time, under
a second lock file) stores the records in order through the normal path, where the inbox's unique key
drops any copy WeChat's retries already stored, then cuts what it finished off the front of the file.
A torn line (a crash mid-write) or one failing its checksum is skipped with a log line; a record the
database refuses while it is up goes to a `.rejected` file for a person to read. Neither blocks the rest.
"""

from bot.spool.file import ReplayResult, Spool
from bot.spool.offline import RECEIVED, offline_reply, with_spool
from bot.spool.records import SpooledMessage
from bot.spool.replayer import SpoolReplayer

__all__ = [
    "RECEIVED",
    "ReplayResult",
    "Spool",
    "SpoolReplayer",
    "SpooledMessage",
    "offline_reply",
    "with_spool",
]
