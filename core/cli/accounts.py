"""Manage accounts: ``python -m core accounts add USER --role admin|organizer|clinician|researcher|reader``.

The password comes from ``--password-stdin`` (first line of standard input), the environment variable
SONODASH_PASSWORD, or an interactive prompt, in that order; it is never a command-line argument (which other
users of the machine could see in the process list). ``list`` prints the accounts (never hashes); ``role``
changes a role; ``unlock`` clears a sign-in lock (after 20 failed sign-ins) of a user or ``client:ADDRESS``.
"""

from __future__ import annotations

ROLES = ("admin", "organizer", "clinician", "researcher", "reader")   # = core.accounts.ROLES (light import)
NAME = "accounts"
HELP = "create, list and unlock accounts (admin, organizer, clinician, researcher, reader)"


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="create an account")
    add.add_argument("user", help="user name (letters, digits, . _ @ -)")
    add.add_argument("--role", choices=list(ROLES), default="reader")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--json", action="store_true", help="print {id, username, role} as JSON")
    passwd = sub.add_parser("passwd", help="set a new password")
    passwd.add_argument("user")
    passwd.add_argument("--password-stdin", action="store_true")
    role = sub.add_parser("role", help="change a user's role")
    role.add_argument("user")
    role.add_argument("role", choices=list(ROLES))
    unlock = sub.add_parser("unlock", help="unlock a user (or client:ADDRESS) locked after failed sign-ins")
    unlock.add_argument("user")
    lst = sub.add_parser("list", help="list accounts")
    lst.add_argument("--json", action="store_true")


def _password(args) -> str:
    import getpass
    import os
    import sys

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    env = os.environ.get("SONODASH_PASSWORD")
    if env:
        return env
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        from core.accounts import AccountError

        raise AccountError("the two passwords differ")
    return first


def run(args) -> int:
    from core import accounts
    from core.cli._util import print_json

    if args.action == "add":
        account = accounts.create_user(args.user, _password(args), role=args.role, actor="cli")
        if args.json:
            print_json({"id": account.id, "username": account.username, "role": account.role})
        else:
            print(f"created {account.role} {account.username} (id {account.id})")
        return 0
    if args.action == "passwd":
        accounts.set_password(args.user, _password(args), actor="cli")
        print(f"password changed for {args.user}")
        return 0
    if args.action == "role":
        account = accounts.set_role(args.user, args.role, actor="cli")
        print(f"{account.username} is now {account.role}")
        return 0
    if args.action == "unlock":
        accounts.unlock(args.user, actor="cli")
        print(f"unlocked {args.user}")
        return 0
    users = accounts.list_users()
    if args.json:
        print_json({"users": [{"id": u.id, "username": u.username, "role": u.role, "active": u.active}
                              for u in users]})
    else:
        for u in users:
            print(f"{u.id}\t{u.username}\t{u.role}")
    return 0
