"""factory_boy factories. Sellers are made through the service, so they get a data key and a profile."""

from __future__ import annotations

import factory
from django.utils import timezone

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
    """Every verification detail filled in and both contacts verified: it may ask for
    verification (`contact_phone_verified_at=None` etc. for an incomplete one)."""

    class Meta:
        model = BuyerOrganisation

    legal_name = factory.Sequence(lambda n: f"Annonceur {n} SAS")
    registration_number = factory.Sequence(lambda n: f"{n:09d}")
    country = "FR"
    website = "https://annonceur.example"
    contact_name = "Claire Martin"
    contact_email = factory.Sequence(lambda n: f"contact{n}@annonceur.example")
    contact_phone = "+33612345678"
    contact_email_verified_at = factory.LazyFunction(timezone.now)
    contact_phone_verified_at = factory.LazyFunction(timezone.now)


class VerifiedOrganisationFactory(OrganisationFactory):
    verification_status = BuyerOrganisation.Verification.VERIFIED


class PayingOrganisationFactory(VerifiedOrganisationFactory):
    """Verified, with a card on file as payments records it, for tests that bid but never reach
    Stripe (the sandbox does not know this customer: tests that settle use `buyer_with_card`)."""

    class Meta:
        skip_postgeneration_save = True

    @factory.post_generation
    def card(organisation, create, extracted, **kwargs):
        from payments.models import StripeCustomer

        StripeCustomer.objects.create(
            organisation=organisation,
            stripe_customer_id=f"cus_test_{organisation.pk}",
            default_payment_method_id="pm_card_visa",
            card_brand="visa",
            card_last4="4242",
        )


class ModeratorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"moderator{n}@courtier.test")
    role = User.Role.MODERATOR
    is_staff = True
    is_superuser = True
    password = factory.django.Password("moderator-password")
