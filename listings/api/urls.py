from django.urls import path

from listings.api import views

urlpatterns = [
    path("listings/", views.ListingListView.as_view(), name="api-listings"),
    path("listings/<uuid:public_id>/", views.ListingDetailView.as_view(), name="api-listing"),
    path("segments/size/", views.SegmentSizeView.as_view(), name="api-segment-size"),
    path("segments/estimate/", views.SegmentEstimateView.as_view(), name="api-segment-estimate"),
]
