// The IPVS module: virtual services, real servers, schedulers, connection table (issue #6).
import Wire
