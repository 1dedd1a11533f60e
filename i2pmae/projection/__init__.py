"""Multi-view depth projection of point clouds and back-projection of 2D maps onto 3D points."""

from .backproject import back_project, back_project_pixels
from .views import IMAGENET_MEAN, IMAGENET_STD, VIEW_PERMUTATIONS, ViewMapping, permute_views, project_views

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VIEW_PERMUTATIONS",
    "ViewMapping",
    "back_project",
    "back_project_pixels",
    "permute_views",
    "project_views",
]
