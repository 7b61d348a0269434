"""A private Dovecot (Debian dovecot-imapd, dovecot-pop3d) on 127.0.0.1 for side-by-side runs:
its own config in a temporary folder, Maildir with its default indexes, no FTS plugin, stopped
by PID at the end. Only process and client limits are raised so that 1,000 concurrent clients
can connect at all; everything else is Dovecot's default.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

_CONF = """\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log
protocols = imap pop3 lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = root
default_internal_group = root
default_login_user = dovenull
first_valid_uid = 0
mail_location = maildir:{d}/mail/%u
pop3_uidl_format = %08Xu%08Xv
default_process_limit = 2000
default_client_limit = 20000
default_vsz_limit = 1G
# The benchmark's clients are one user on one address: the per-user+IP cap (10 by default)
# would refuse the concurrent workloads; Postroom's own cap is raised the same way.
protocol imap {{
  mail_max_userip_connections = 100000
}}
protocol pop3 {{
  mail_max_userip_connections = 100000
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home/%u allow_all_users=yes
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
service anvil {{
  chroot =
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available() -> bool:
    return (shutil.which("dovecot") or os.path.exists("/usr/sbin/dovecot")) is not None \
        and os.geteuid() == 0


class Dovecot:
    """``with Dovecot(users={"u1": "pw"}) as d: d.imap_port, d.pop3_port``"""

    def __init__(self, users: dict[str, str]):
        self.users = users
        self.tmp = ""
        self.proc: subprocess.Popen | None = None
        self.imap_port = 0
        self.pop3_port = 0
        self.lmtp_port = 0

    def __enter__(self) -> "Dovecot":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        nobody = pwd.getpwnam("nobody")
        self.tmp = tempfile.mkdtemp(prefix="postroom-bench-dovecot-")
        os.chmod(self.tmp, 0o755)
        for sub in ("run", "state", "mail", "home"):
            os.makedirs(os.path.join(self.tmp, sub))
        os.chmod(os.path.join(self.tmp, "mail"), 0o777)
        os.chmod(os.path.join(self.tmp, "home"), 0o777)
        with open(os.path.join(self.tmp, "passwd"), "w") as f:
            for user, pw in self.users.items():
                f.write(f"{user}:{{PLAIN}}{pw}\n")
        self.imap_port, self.pop3_port = free_port(), free_port()
        self.lmtp_port = free_port() if _has_lmtp() else 0
        conf = os.path.join(self.tmp, "dovecot.conf")
        with open(conf, "w") as f:
            conf_text = _CONF if self.lmtp_port else _CONF.replace("imap pop3 lmtp", "imap pop3")
            f.write(conf_text.format(d=self.tmp, imap_port=self.imap_port,
                                     pop3_port=self.pop3_port, lmtp_port=self.lmtp_port,
                                     uid=nobody.pw_uid, gid=nobody.pw_gid))
        self.proc = subprocess.Popen([binary, "-c", conf, "-F"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.imap_port), timeout=2).close()
                socket.create_connection(("127.0.0.1", self.pop3_port), timeout=2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        log = open(os.path.join(self.tmp, "log")).read() if os.path.exists(
            os.path.join(self.tmp, "log")) else ""
        self.stop()
        raise RuntimeError(f"dovecot did not start: {log[-2000:]}")

    def load_maildir(self, user: str, messages: list[bytes]) -> None:
        """Writes the messages straight into the user's INBOX Maildir (cur/, no flags), as a
        delivery agent would, in order; Dovecot indexes them at the next SELECT. For large
        corpora: APPENDs to a Maildir no session has selected leave every message in new/,
        which Dovecot rescans on each APPEND (100,000 would take hours)."""
        nobody = pwd.getpwnam("nobody")
        root = os.path.join(self.tmp, "mail", user)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        base = int(time.time()) - len(messages)
        for i, raw in enumerate(messages):
            name = f"{base + i}.M{i:06d}P{os.getpid()}.bench,S={len(raw)}:2,"
            with open(os.path.join(root, "cur", name), "wb") as f:
                f.write(raw)
        for folder, dirs, files in os.walk(root):
            for name in [*dirs, *files]:
                os.chown(os.path.join(folder, name), nobody.pw_uid, nobody.pw_gid)
        os.chown(root, nobody.pw_uid, nobody.pw_gid)

    def rss_kb(self) -> int:
        """Resident memory of the whole Dovecot process tree (master and children)."""
        if self.proc is None:
            return 0
        return _tree_rss_kb(self.proc.pid, proportional=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = ""


def _has_lmtp() -> bool:
    """Debian's dovecot-lmtpd installed (the LMTP side of the inbound-delivery workload)."""
    return os.path.exists("/usr/lib/dovecot/lmtp")


def _tree_rss_kb(root_pid: int, proportional: bool = False) -> int:
    """Resident memory of a process and its descendants; ``proportional``: PSS summed, so
    pages the processes share (a forking server's libraries) count once, not per process."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ppid = int(fields[1])
            with open(f"/proc/{entry}/statm") as f:
                pages = int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        pid = int(entry)
        children.setdefault(ppid, []).append(pid)
        rss[pid] = pages * (os.sysconf("SC_PAGE_SIZE") // 1024)
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += (proportional and _pss_kb(pid)) or rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def _pss_kb(pid: int) -> int:
    """A process's proportional share of memory: pages shared with others (a forked
    server's libraries, mapped indexes) count once over the tree, not once per process."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
