# References for menl's MA(1) residual correlation and by() variances from R's nlme
# (Lindstrom-Bates, ML). Run from the repository root:
#   Rscript tests/reference/make_refs_menl_corr.R
# Writes tests/reference/menl/corr_*.json (layout of make_refs_menl_resid.R). Stata's
# spellings: corARMA(q = 1, form = ~occasion | Tree) is rescorrelation(ma 1, t(occasion))
# (and rescorrelation(toeplitz 1, t(occasion)) with rho1 = theta / (1 + theta^2));
# varIdent(form = ~1 | half) with half constant within trees is
# rescovariance(independent, by(half)). Toeplitz 2, banded and ar 1 by() have no nlme
# equivalent: tests/menl_dense.py checks them by a dense computation instead.
source(file.path("tests", "reference", "menl_nlme_helpers.R"))

orange <- as.data.frame(Orange)
orange$occasion <- ave(orange$age, orange$Tree, FUN = rank)
orange$half <- as.integer(as.integer(as.character(orange$Tree)) > 3)
orange_stata <- paste("menl circumference = {phi1:}/(1+exp(-(age-{b2})/{b3})),",
                      "define(phi1: {b1}+{U[Tree]}) initial(b1 192 b2 728 b3 353)")
f <- fit_nlme(circumference ~ Asym / (1 + exp(-(age - xmid) / scal)), data = orange,
              fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Tree,
              correlation = corARMA(form = ~occasion | Tree, q = 1),
              start = c(Asym = 192, xmid = 728, scal = 353), method = "ML")
save_case("corr_orange_ma1", f, "orange.csv",
          paste(orange_stata, "rescorrelation(ma 1, t(occasion))"))

f <- fit_nlme(circumference ~ Asym / (1 + exp(-(age - xmid) / scal)), data = orange,
              fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Tree,
              weights = varIdent(form = ~1 | half),
              start = c(Asym = 192, xmid = 728, scal = 353), method = "ML")
save_case("corr_orange_independent_by", f, "orange.csv",
          paste(orange_stata, "rescovariance(independent, by(half))"))

