"""aftersales-kit: JD.com after-sales service duration (售后服务时长) diagnosis."""

__version__ = "0.1.0"
