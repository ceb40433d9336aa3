"""Imports every model file so each registers itself. Add one line per new model file."""
from . import logistic  # noqa: F401
from . import hinge  # noqa: F401
from . import moe  # noqa: F401
from . import frame_logistic  # noqa: F401
from . import dbof  # noqa: F401
from . import lstm  # noqa: F401
from . import gru  # noqa: F401
from . import bof  # noqa: F401
from . import simple_lstm  # noqa: F401
from . import lstm_moe  # noqa: F401
from . import attention  # noqa: F401
from . import multi_attention  # noqa: F401
from . import netvlad  # noqa: F401
from . import netrvlad  # noqa: F401
from . import netfv  # noqa: F401
from . import soft_dbof  # noqa: F401
from . import nextvlad  # noqa: F401
