"""Users with bcrypt-hashed passwords, and one JSON settings document per user.

Only the bcrypt hash of a password is stored. bcrypt reads at most 72 bytes of a password, so a
longer one is refused (ValidationError) rather than silently cut short. The hash rides on the
:class:`User` record as a secret field: it is left out of ``to_dict()`` and ``repr()``.

Rules, checked before any SQL runs:

- ``username``: 3 to 64 characters, letters, digits, ``_``, ``.`` and ``-``, starting with a
  letter or digit; compared exactly (case-sensitive), as the schema stores it.
- ``email`` (optional): at most 254 characters, one ``@`` with text on both sides, no spaces.
  Stored lowercased, and looked up lowercased, so ``Bob@X.org`` and ``bob@x.org`` are one
  address.
- ``password``: 8 characters to 72 bytes (UTF-8), no NUL characters.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import bcrypt

from .. import validate as v
from ..convert import from_json, to_bool, to_utc
from ..errors import ConflictError, NotFound, ValidationError
from ..queries import load
from ..records import SECRET, Record
from .base import Repository

if TYPE_CHECKING:
    from ..pool import Database

USERNAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,63}")
EMAIL_MAX = 254
PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_BYTES = 72  # bcrypt ignores everything past this
DEFAULT_ROUNDS = 12


@dataclass(frozen=True, slots=True)
class User(Record):
    """A user account. ``password_hash`` is secret: never in ``to_dict()`` or ``repr()``."""

    id: str
    username: str
    email: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    password_hash: str = field(default="", repr=False, compare=False, metadata=SECRET)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> User:
        created_at, updated_at = to_utc(row["created_at"]), to_utc(row["updated_at"])
        assert created_at is not None and updated_at is not None
        return cls(
            id=str(row["id"]),
            username=row["username"],
            email=row["email"],
            is_active=to_bool(row["is_active"]),
            created_at=created_at,
            updated_at=updated_at,
            password_hash=row["password_hash"],
        )


# -- input rules ---------------------------------------------------------------------------------


def _username(value: Any) -> str:
    name = v.text("username", value, max_length=64)
    assert name is not None
    if not USERNAME_RULE.fullmatch(name):
        raise ValidationError("username", "must be 3-64 characters: letters, digits, '_', '.' "
                                          "or '-', starting with a letter or digit")
    return name


def _email(value: Any, *, required: bool = False) -> str | None:
    email = v.text("email", value, max_length=EMAIL_MAX, required=required)
    if email is None:
        return None
    local, at, domain = email.partition("@")
    if not at or not local or not domain or "@" in domain or any(c.isspace() for c in email):
        raise ValidationError("email", "must look like name@domain (one '@', no spaces)")
    return email.lower()


def _password(value: Any, field_name: str = "password") -> bytes:
    if not isinstance(value, str):
        raise ValidationError(field_name, f"must be a string, got {type(value).__name__}")
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(field_name, "must be valid Unicode (no lone surrogates)") from None
    if len(value) < PASSWORD_MIN_CHARS:
        raise ValidationError(field_name, f"must be at least {PASSWORD_MIN_CHARS} characters")
    if len(encoded) > PASSWORD_MAX_BYTES:
        raise ValidationError(field_name, f"must be at most {PASSWORD_MAX_BYTES} bytes as UTF-8 "
                                          "(bcrypt ignores the rest)")
    if b"\x00" in encoded:
        raise ValidationError(field_name, "must not contain NUL characters")
    return encoded


def _user_id(value: Any) -> str:
    user_id = v.identifier("user_id", value, required=True)
    assert user_id is not None
    return user_id


# -- the repository ------------------------------------------------------------------------------


class UserRepository(Repository):
    """User accounts (create, authenticate, look up, list, delete) and their settings.

    ``bcrypt_rounds`` is bcrypt's cost factor (4-31; each step doubles the work): 12 by
    default, lower only in tests.
    """

    queries = load("users")
    __slots__ = ("_dummy_hash", "_rounds")

    def __init__(self, db: Database, *, bcrypt_rounds: int = DEFAULT_ROUNDS) -> None:
        super().__init__(db)
        self._rounds = v.integer("bcrypt_rounds", bcrypt_rounds, minimum=4, maximum=31)
        self._dummy_hash: bytes | None = None

    # -- accounts ----------------------------------------------------------------------------

    def create(self, username: str, email: str | None, password: str, *,
               is_active: bool = True) -> User:
        """A new user; stores the bcrypt hash of ``password``, never the password.
        A taken username or email is a ConflictError that says which."""
        username = _username(username)
        email = _email(email)
        secret = _password(password)
        if not isinstance(is_active, bool):
            raise ValidationError("is_active", "must be a bool")
        now = v.utcnow()
        user = User(
            id=v.new_id(),
            username=username,
            email=email,
            is_active=is_active,
            created_at=now,
            updated_at=now,
            password_hash=self._hash(secret),
        )
        try:
            self.run("insert_user", id=user.id, username=username, email=email,
                     password_hash=user.password_hash, is_active=is_active,
                     created_at=now, updated_at=now)
        except ConflictError as exc:
            raise self._taken(exc, username, email) from exc
        return user

    def authenticate(self, username: str, password: str) -> User | None:
        """The active user with this username and password, else None. Takes about as long
        whether or not the username exists, so timing does not reveal which usernames do."""
        if not isinstance(username, str):
            raise ValidationError("username", f"must be a string, got {type(username).__name__}")
        if not isinstance(password, str):
            raise ValidationError("password", f"must be a string, got {type(password).__name__}")
        try:
            secret: bytes | None = password.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: no stored password has any
            secret = None
        row = None
        if USERNAME_RULE.fullmatch(username):
            row = self.run("get_user_by_username", username=username)
        if (row is None or secret is None or len(secret) > PASSWORD_MAX_BYTES
                or b"\x00" in secret):
            # No stored password can match: do the same work as a real check, then refuse.
            bcrypt.checkpw(b"not the password", self._dummy())
            return None
        if not bcrypt.checkpw(secret, row["password_hash"].encode("ascii")):
            return None
        user = User.from_row(row)
        return user if user.is_active else None

    def get(self, user_id: str) -> User:
        row = self.run("get_user", id=_user_id(user_id))
        if row is None:
            raise NotFound("user", user_id)
        return User.from_row(row)

    def get_by_username(self, username: str) -> User:
        row = self.run("get_user_by_username", username=_username(username))
        if row is None:
            raise NotFound("user", username)
        return User.from_row(row)

    def get_by_email(self, email: str) -> User:
        row = self.run("get_user_by_email", email=_email(email, required=True))
        if row is None:
            raise NotFound("user", email)
        return User.from_row(row)

    def list(self, *, limit: int = 100, offset: int = 0) -> builtins.list[User]:
        """Users, oldest first."""
        limit, offset = v.page(limit, offset)
        return [User.from_row(r) for r in self.run("list_users", limit=limit, offset=offset)]

    def set_password(self, user_id: str, password: str) -> None:
        """Replace the user's password (its hash)."""
        user_id = _user_id(user_id)
        password_hash = self._hash(_password(password))
        if not self.run("set_password_hash", id=user_id, password_hash=password_hash,
                        updated_at=v.utcnow()):
            raise NotFound("user", user_id)

    def set_active(self, user_id: str, active: bool) -> None:
        """Enable or disable an account; a disabled user cannot authenticate."""
        user_id = _user_id(user_id)
        if not isinstance(active, bool):
            raise ValidationError("active", "must be a bool")
        if not self.run("set_active", id=user_id, is_active=active, updated_at=v.utcnow()):
            raise NotFound("user", user_id)

    def delete(self, user_id: str) -> None:
        """Delete a user. Their settings, their workflows (with those workflows' versions and
        shares) and the shares granted to them go too; versions they wrote of other users'
        workflows stay, with ``created_by`` set to None."""
        user_id = _user_id(user_id)
        if not self.run("delete_user", id=user_id):
            raise NotFound("user", user_id)

    # -- settings ------------------------------------------------------------------------------

    def get_settings(self, user_id: str) -> dict[str, Any]:
        """The user's settings document; ``{}`` when they have none yet."""
        row = self.run("get_settings", user_id=_user_id(user_id))
        if row is None:
            raise NotFound("user", user_id)
        data = from_json(row["data"])
        return dict(data) if data is not None else {}

    def put_settings(self, user_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the user's settings document (an upsert: one statement)."""
        user_id = _user_id(user_id)
        document = v.json_object("data", data)
        if document is None:
            raise ValidationError("data", "must be a JSON object (dict), got None")
        try:
            self.run("put_settings", user_id=user_id, data=document, updated_at=v.utcnow())
        except ValidationError as exc:  # the input was checked: the foreign key refused it
            raise NotFound("user", user_id) from exc
        return document

    def patch_settings(self, user_id: str, changes: Mapping[str, Any], *,
                       remove: Iterable[str] = ()) -> dict[str, Any]:
        """Merge ``changes`` into the settings document, key by key at the top level (a key
        given here replaces that key's whole value), and drop the keys in ``remove``. Returns
        the merged document. Concurrent writes of one user's settings never lose each other's
        keys: the read, the merge and the write are one unit of work holding the settings
        row's lock (the row is created empty first if need be, so there is always one)."""
        user_id = _user_id(user_id)
        update = v.json_object("changes", changes)
        if update is None:
            raise ValidationError("changes", "must be a JSON object (dict), got None")
        if isinstance(remove, str):
            raise ValidationError("remove", "must be a collection of keys, not one string")
        drop = builtins.list(remove)
        if not all(isinstance(k, str) for k in drop):
            raise ValidationError("remove", "keys must be strings")
        def unit(_: Any) -> dict[str, Any]:  # database work only: safe to run again whole
            try:
                self.run("ensure_settings", user_id=user_id, updated_at=v.utcnow())
            except ValidationError as exc:  # the foreign key: no such user
                raise NotFound("user", user_id) from exc
            document = dict(from_json(self.run("lock_settings", user_id=user_id)))
            document.update(update)
            for key in drop:
                document.pop(key, None)
            v.json_object("changes", document)  # the merged document must still fit
            self.run("update_settings", user_id=user_id, data=document, updated_at=v.utcnow())
            return document

        return self.db.run_in_transaction(unit)  # deadlock / lost before COMMIT: again

    # -- internals -------------------------------------------------------------------------------

    def _hash(self, secret: bytes) -> str:
        return bcrypt.hashpw(secret, bcrypt.gensalt(self._rounds)).decode("ascii")

    def _dummy(self) -> bytes:
        if self._dummy_hash is None:
            self._dummy_hash = bcrypt.hashpw(b"agentdb timing guard", bcrypt.gensalt(self._rounds))
        return self._dummy_hash

    @staticmethod
    def _taken(exc: ConflictError, username: str, email: str | None) -> ConflictError:
        message = str(exc)
        if "email" in message:
            return ConflictError(f"email {email!r} is already in use")
        if "username" in message:
            return ConflictError(f"username {username!r} is already taken")
        return exc


__all__ = ["User", "UserRepository"]
