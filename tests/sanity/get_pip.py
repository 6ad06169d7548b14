"""Stand-in for ansible-test's pip bootstrap script (get-pip-<version>.py).

ansible-test creates each sanity venv with --without-pip and bootstraps pip by running a get-pip script it
downloads from ci-files.testing.ansible.com. Where that host is unreachable (but PyPI is), mk/sanity.mk
copies this file to ansible-test's cache path instead: it seeds pip from the interpreter's own ensurepip
and then installs the exact packages ansible-test asked for (e.g. pip==24.2) from the package index.
Arguments are those ansible-test passes to get-pip: pip options, --no-setuptools / --no-wheel, packages.
"""
import ensurepip
import subprocess
import sys

GET_PIP_ONLY = {'--no-setuptools', '--no-wheel'}


def main():
    ensurepip.bootstrap(upgrade=True)
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--upgrade'] + args)


if __name__ == '__main__':
    main()
