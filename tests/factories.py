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


# every factory-made staff member's authenticator secret (hex, as django-otp stores it): a test
# computes the code of the moment with `totp_code()`
STAFF_TOTP_KEY = "3132333435363738393031323334353637383930"


def totp_code(key: str = STAFF_TOTP_KEY) -> str:
    """The 6-digit code an authenticator app with this secret shows now."""
    from binascii import unhexlify

    from django_otp.oath import TOTP

    return f"{TOTP(unhexlify(key)).token():06d}"


class ModeratorFactory(factory.django.DjangoModelFactory):
    """Staff, not a superuser, in the Moderators group (accounts.roles), with a confirmed
    authenticator app (STAFF_TOTP_KEY). `ModeratorFactory(totp=False)` has no second factor yet."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"moderator{n}@courtier.test")
    role = User.Role.MODERATOR
    is_staff = True
    is_superuser = False
    password = factory.django.Password("moderator-password")
    group = "Moderators"

    @classmethod
    def _create(cls, model_class, *args, group: str = "Moderators", **kwargs):
        from django.contrib.auth.models import Group

        user = super()._create(model_class, *args, **kwargs)
        user.groups.add(Group.objects.get(name=group))
        return user

    @factory.post_generation
    def totp(user, create, extracted, **kwargs):
        if create and extracted is not False:
            from django_otp.plugins.otp_totp.models import TOTPDevice

            TOTPDevice.objects.create(user=user, name="Authenticator app", key=STAFF_TOTP_KEY, confirmed=True)


class DataProtectionOfficerFactory(ModeratorFactory):
    """A moderator who may also open a seller's precise values (accounts.roles)."""

    email = factory.Sequence(lambda n: f"dpo{n}@courtier.test")
    group = "Data protection officers"
