"""URLs for `make bench-pages`: the whole site plus /bench/bare-page/, what every seller page is
measured against: the same middleware and the same seller_required check, then `base.html`
rendered with an empty context (the header and navigation read the session and the user, as on
every page; nothing else)."""

from django.shortcuts import render
from django.urls import include, path

from accounts.views import seller_required


@seller_required
def bare_page(request):
    return render(request, "base.html")


urlpatterns = [
    path("bench/bare-page/", bare_page, name="bench-bare-page"),
    path("", include("config.urls")),
]
