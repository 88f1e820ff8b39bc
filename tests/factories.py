"""factory_boy factories. Sellers are made through the service, so they get a data key and a profile."""

from __future__ import annotations

import factory

from accounts import services
from accounts.models import BuyerOrganisation, User


class SellerFactory(factory.Factory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"seller{n}@example.test")
    password = "correct horse battery staple"
    full_name = factory.Faker("name", locale="fr_FR")

    @classmethod
    def _create(cls, model_class, **kwargs):
        return services.seller_create(**kwargs)


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BuyerOrganisation

    legal_name = factory.Sequence(lambda n: f"Annonceur {n} SAS")
    registration_number = factory.Sequence(lambda n: f"{n:09d}")
    country = "FR"
    website = "https://annonceur.example"
    contact_name = "Claire Martin"
    contact_email = factory.Sequence(lambda n: f"contact{n}@annonceur.example")


class VerifiedOrganisationFactory(OrganisationFactory):
    verification_status = BuyerOrganisation.Verification.VERIFIED


class ModeratorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"moderator{n}@courtier.test")
    role = User.Role.MODERATOR
    is_staff = True
    is_superuser = True
    password = factory.django.Password("moderator-password")
