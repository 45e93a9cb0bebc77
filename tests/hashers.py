from django.contrib.auth.hashers import Argon2PasswordHasher


class FastArgon2PasswordHasher(Argon2PasswordHasher):
    """argon2id with the smallest parameters: the suite hashes thousands of passwords."""

    time_cost = 1
    memory_cost = 64
    parallelism = 1
