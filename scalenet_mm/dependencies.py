"""Check, when ``scalenet_mm`` is imported, that the packages it builds on are in the supported range.

Why: installed into an existing OpenMMLab environment, the package may meet a torch, mmengine,
mmpretrain or mmdet release it was never run with. Such a mismatch otherwise surfaces far from
its cause (an ``AttributeError`` inside a backbone, a registry that misses a name, mmdet's own
``AssertionError`` about mmcv), often after minutes of data loading. One check at import turns it
into one message that names the package, the installed and the required version, and the fix.

Only metadata is read (:func:`importlib.metadata.version`): nothing is imported here, so the
check costs milliseconds and cannot itself fail on a broken install. mmcv's compiled ops are
checked where they are needed (building a detector), by :mod:`scalenet_mm.engine.env_check`.

The ranges are the ones ``setup.py`` declares (``requirements/runtime.txt``) plus torch and mmcv,
which pip cannot install for the user (torch is chosen per machine; mmcv with ops is built from
source). The exact tested set is ``requirements/constraints.txt``.
"""
from dataclasses import dataclass
from importlib import metadata
from typing import Callable, List, Optional

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

#: Environment variable that skips the check (for a developer who knowingly tries another release).
SKIP_VARIABLE = 'SCALENET_SKIP_VERSION_CHECK'


@dataclass(frozen=True)
class Requirement:
    """A supported range of one distribution and the command that installs a fitting release."""

    distribution: str
    specifier: str
    fix: str

    def problem(self, version_of: Callable[[str], str]) -> Optional[str]:
        """Return a sentence describing why the installed release does not fit, or None."""
        try:
            installed = version_of(self.distribution)
        except metadata.PackageNotFoundError:
            return (f'{self.distribution} is not installed; scalenet_mm needs '
                    f'{self.distribution}{self.specifier}. Fix: {self.fix}')
        try:
            # Local labels (2.14.1+cpu) and pre-releases (2.0.0rc4) count as their release.
            fits = SpecifierSet(self.specifier).contains(Version(installed), prereleases=True)
        except InvalidVersion:
            return None  # an unparsable version string (a source build): do not guess
        if fits:
            return None
        return (f'{self.distribution} {installed} is installed, but scalenet_mm needs '
                f'{self.distribution}{self.specifier}. Fix: {self.fix}')


SETUP_FIX = 'bash tools/setup_env.sh (creates a venv with the tested set)'

#: What scalenet_mm supports. Keep in step with requirements/runtime.txt (a test compares them).
REQUIREMENTS = (
    Requirement('torch', '>=2.4', f'pip install "torch>=2.4" (or {SETUP_FIX})'),
    Requirement('mmcv', '>=2.0.0rc4,<2.2.0',
                f'build mmcv 2.1.0 with ops for your torch: {SETUP_FIX}; mmdet 3.3 refuses '
                f'mmcv >= 2.2'),
    Requirement('mmengine', '>=0.10.3,<1.0.0', 'pip install "mmengine>=0.10.3,<1.0.0"'),
    Requirement('mmpretrain', '>=1.2.0,<1.3.0', 'pip install "mmpretrain>=1.2.0,<1.3.0"'),
    Requirement('mmdet', '>=3.3.0,<3.4.0', 'pip install "mmdet>=3.3.0,<3.4.0"'),
    Requirement('timm', '>=1.0.0,<2.0.0', 'pip install "timm>=1.0.0,<2.0.0"'),
    Requirement('numpy', '>=1.23,<2.4',
                'pip install "numpy>=1.23,<2.4" (numpy 2.4 removed np.in1d, which '
                'mmpretrain 1.2 metrics call)'),
)


class DependencyVersionError(ImportError):
    """An installed dependency is missing or outside the range scalenet_mm supports."""


def dependency_problems(requirements=REQUIREMENTS,
                        version_of: Callable[[str], str] = metadata.version) -> List[str]:
    """Return one sentence per requirement the environment does not meet (empty when all fit)."""
    return [p for p in (r.problem(version_of) for r in requirements) if p is not None]


def check_dependencies(requirements=REQUIREMENTS,
                       version_of: Callable[[str], str] = metadata.version) -> None:
    """Raise :class:`DependencyVersionError` listing every dependency that does not fit.

    Set the environment variable ``SCALENET_SKIP_VERSION_CHECK=1`` to skip the check.
    """
    problems = dependency_problems(requirements, version_of)
    if problems:
        raise DependencyVersionError(
            'scalenet_mm cannot run with the installed packages:\n  - ' + '\n  - '.join(problems)
            + f'\n(The tested set is requirements/constraints.txt. To try anyway, set '
              f'{SKIP_VARIABLE}=1.)')
