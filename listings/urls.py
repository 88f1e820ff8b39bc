from django.urls import path

from listings import views, worth_views

urlpatterns = [
    path("listings/", views.listings, name="seller-listings"),
    path("listings/new/", views.listing_create, name="seller-listing-new"),
    path("listings/audience/", views.audience_optin, name="seller-audience-optin"),
    path("listings/<int:listing_id>/price/", views.listing_price, name="seller-listing-price"),
    path("listings/<int:listing_id>/withdraw/", views.listing_withdraw, name="seller-listing-withdraw"),
    path("listings/<int:listing_id>/<slug:action>/", views.listing_action, name="seller-listing-action"),
    path("worth/", worth_views.worth, name="seller-worth"),
    path("worth/estimate/", worth_views.worth_estimate, name="seller-worth-estimate"),
    path("valuation.json", views.valuation_json, name="seller-valuation-json"),
]
