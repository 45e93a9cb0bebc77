"""fastapi-users, the peer Roster's bench compares against: users in PostgreSQL (SQLAlchemy +
asyncpg), a JWT bearer transport, and ``GET /users/me`` loading the user row on every
request (its "active user" check), as its documentation sets it up.

Run by bench/peers/fastapi_users/runner.py: ``python app.py init`` creates the table, then
``uvicorn app:app --workers 2``. Passwords are argon2id with the parameters given in
PEER_ARGON2 (``t,m,p``; the bench passes Roster's), so both sides pay the same hash.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users.db import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from fastapi_users.password import PasswordHelper
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

DATABASE_URL = os.environ["PEER_DATABASE_URL"]
SECRET = os.environ.get("PEER_SECRET", "peer-bench-secret-" + "k" * 40)
TIME_COST, MEMORY_COST, PARALLELISM = (
    int(v) for v in os.environ.get("PEER_ARGON2", "2,102400,8").split(",")
)


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    pass


engine = create_async_engine(DATABASE_URL, pool_size=20)
session_maker = async_sessionmaker(engine, expire_on_commit=False)


async def get_session():
    async with session_maker() as session:
        yield session


async def get_user_db(session: AsyncSession = Depends(get_session)):  # noqa: B008
    yield SQLAlchemyUserDatabase(session, User)


password_helper = PasswordHelper(
    PasswordHash(
        (Argon2Hasher(time_cost=TIME_COST, memory_cost=MEMORY_COST, parallelism=PARALLELISM),)
    )
)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


async def get_user_manager(user_db=Depends(get_user_db)):  # noqa: B008
    yield UserManager(user_db, password_helper)


def get_jwt_strategy() -> JWTStrategy:
    return JWTStrategy(secret=SECRET, lifetime_seconds=3600)


auth_backend = AuthenticationBackend(
    name="jwt", transport=BearerTransport(tokenUrl="auth/jwt/login"), get_strategy=get_jwt_strategy
)
fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [auth_backend])


class UserRead(schemas.BaseUser[uuid.UUID]):
    pass


class UserCreate(schemas.BaseUserCreate):
    pass


class UserUpdate(schemas.BaseUserUpdate):
    pass


app = FastAPI()
app.include_router(fastapi_users.get_auth_router(auth_backend), prefix="/auth/jwt")
app.include_router(fastapi_users.get_register_router(UserRead, UserCreate), prefix="/auth")
app.include_router(fastapi_users.get_users_router(UserRead, UserUpdate), prefix="/users")


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}


async def _init() -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    await engine.dispose()


if __name__ == "__main__" and sys.argv[1:] == ["init"]:
    asyncio.run(_init())
