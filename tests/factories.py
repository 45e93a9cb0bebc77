import factory

from accounts.models import User

DEFAULT_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    display_name = factory.Faker("name")

    @classmethod
    def _create(cls, model_class, *args, roles=("member",), password=DEFAULT_PASSWORD, **kwargs):
        from accounts.roles import assign_roles

        user = model_class.objects.create_user(*args, password=password, **kwargs)
        assign_roles(user, roles)
        return user
