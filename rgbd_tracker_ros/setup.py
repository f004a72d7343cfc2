from glob import glob

from setuptools import find_packages, setup

PACKAGE = "rgbd_tracker_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", sorted(glob("config/*.*"))),
        (f"share/{PACKAGE}/config/trackers", glob("config/trackers/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="rgbd_tracker_ros maintainers",
    maintainer_email="maintainers@rgbd-tracker.invalid",
    description="RGB-D single-object tracking node (DeT, DiMP, TrDiMP, weight-free default).",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "tracker_node = rgbd_tracker_ros.tools.tracker_node:main",
            "sequence_player = rgbd_tracker_ros.tools.sequence_player:main",
            "make_sequence = rgbd_tracker_ros.tools.make_sequence:main",
            "export_model = rgbd_tracker_ros.tools.export_model:main",
            "evaluate = rgbd_tracker_ros.tools.evaluate:main",
            "benchmark = rgbd_tracker_ros.tools.benchmark:main",
            "demo = rgbd_tracker_ros.tools.demo:main",
        ],
    },
)
