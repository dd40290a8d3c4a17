"""Packaging beyond what pyproject.toml can say: hardware/ (oscillator classes, NIC families) is a
top-level folder of the checkout that the lab and the docs link to, and it must also be inside the
wheel, so an installed appliance finds it. It is mapped to the package ``appliance._hardware``;
appliance.catalog.hardware_dir() looks there first."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["appliance", "appliance.*"]) + ["appliance._hardware"],
    package_dir={"appliance._hardware": "hardware"},
    package_data={
        "appliance._hardware": ["*.yaml"],
        "appliance.monitoring": ["rules/*.yml"],
        "appliance": ["BUILD_DATE"],
    },  # stamped by the bundle build (appliance/buildinfo.py)
)
