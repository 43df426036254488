"""``python -m steps_s3_copy.cli``: the same as the ``s3copy`` console script."""

from steps_s3_copy.cli import main

main()
