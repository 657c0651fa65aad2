"""The course's build toolkit: lab sources → notebooks, the JupyterLite build, the site.

Not shipped to learners (that is the ``labs`` package); used by ``scripts/`` and tests.
"""
