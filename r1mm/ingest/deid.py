"""DICOM de-identification after PS3.15 Annex E, Basic Application Level Confidentiality Profile.

Options applied: Retain Longitudinal Temporal Information with Full Dates (study and series
dates stay, since clinicians ask for them) and Retain Safe Private (none are kept: all private
tags go). Identifying attributes are removed; UIDs are replaced by stable hashes so that the
slices of one series stay together.
"""
from __future__ import annotations

import hashlib

import pydicom

METHOD = "DICOM PS3.15 E.1 basic profile; retain longitudinal full dates; private tags removed"
METHOD_TAG = "R1MM PS3.15 basic profile, full dates kept"  # DeidentificationMethod is LO: 64 chars at most

# Attributes the basic profile removes or empties (action X, Z, D, X/Z, X/D, X/Z/D, X/Z/U*),
# less the UIDs (replaced below) and the dates kept by the longitudinal option.
PHI_KEYWORDS: frozenset[str] = frozenset("""
AccessionNumber AcquisitionComments AcquisitionDeviceProcessingDescription ActualHumanPerformersSequence
AdditionalPatientHistory AdmissionID AdmittingDiagnosesCodeSequence AdmittingDiagnosesDescription
Allergies Arbitrary AuthorObserverSequence BranchOfService CassetteID CommentsOnThePerformedProcedureStep
ConfidentialityConstraintOnPatientDataDescription ContentCreatorName ContentSequence
ContributionDescription CountryOfResidence CurrentPatientLocation CustodialOrganizationSequence
DataSetTrailingPadding DerivationDescription DetectorID DeviceSerialNumber DeviceUID
DigitalSignaturesSequence DischargeDiagnosisDescription DistributionAddress DistributionName
EthnicGroup FillerOrderNumberImagingServiceRequest FrameComments GantryID GeneratorID
HumanPerformerName HumanPerformerOrganization IconImageSequence IdentifyingComments ImageComments
ImagePresentationComments ImagingServiceRequestComments Impressions InstitutionAddress
InstitutionCodeSequence InstitutionName InstitutionalDepartmentName InsurancePlanIdentification
IntendedRecipientsOfResultsIdentificationSequence InterpretationApproverSequence InterpretationAuthor
InterpretationDiagnosisDescription InterpretationIDIssuer InterpretationRecorder
InterpretationText InterpretationTranscriber IssuerOfAdmissionID IssuerOfPatientID
IssuerOfServiceEpisodeID MedicalAlerts MedicalRecordLocator MilitaryRank ModifiedAttributesSequence
ModifyingDeviceID ModifyingDeviceManufacturer NameOfPhysiciansReadingStudy
NamesOfIntendedRecipientsOfResults Occupation OperatorIdentificationSequence OperatorsName
OrderCallbackPhoneNumber OrderEnteredBy OrderEntererLocation OriginalAttributesSequence
OtherPatientIDs OtherPatientIDsSequence OtherPatientNames ParticipantSequence PatientAddress
PatientAge PatientBirthDate PatientBirthName PatientBirthTime PatientComments PatientID
PatientInstitutionResidence PatientInsurancePlanCodeSequence PatientMotherBirthName PatientName
PatientPrimaryLanguageCodeSequence PatientPrimaryLanguageModifierCodeSequence
PatientReligiousPreference PatientSex PatientSexNeutered PatientSize PatientState
PatientTelephoneNumbers PatientTransportArrangements PatientWeight PerformedLocation
PerformedProcedureStepDescription PerformedProcedureStepID PerformingPhysicianIdentificationSequence
PerformingPhysicianName PersonAddress PersonIdentificationCodeSequence PersonName
PersonTelephoneNumbers PhysicianApprovingInterpretation PhysiciansOfRecord
PhysiciansOfRecordIdentificationSequence PhysiciansReadingStudyIdentificationSequence
PlacerOrderNumberImagingServiceRequest PlateID PreMedication PregnancyStatus ProtocolName
ReasonForTheImagingServiceRequest ReasonForStudy ReferencedPatientAliasSequence
ReferencedPatientPhotoSequence ReferencedPatientSequence ReferencedStudySequence
ReferringPhysicianAddress ReferringPhysicianIdentificationSequence ReferringPhysicianName
ReferringPhysicianTelephoneNumbers RegionOfResidence RequestAttributesSequence RequestedContrastAgent
RequestedProcedureComments RequestedProcedureDescription RequestedProcedureID
RequestedProcedureLocation RequestingPhysician RequestingService ResponsibleOrganization
ResponsiblePerson ResponsiblePersonRole ResultsComments ResultsDistributionListSequence
ResultsIDIssuer ScheduledHumanPerformersSequence ScheduledPatientInstitutionResidence
ScheduledPerformingPhysicianIdentificationSequence ScheduledPerformingPhysicianName
ScheduledProcedureStepDescription ScheduledProcedureStepLocation ScheduledStationName
SeriesDescription ServiceEpisodeDescription ServiceEpisodeID SmokingStatus SourceImageSequence
SpecialNeeds StationName StudyComments StudyDescription StudyID StudyIDIssuer
TextComments TextString TopicAuthor TopicKeywords TopicSubject TopicTitle VerifyingObserverIdentificationCodeSequence
VerifyingObserverName VerifyingObserverSequence VerifyingOrganization VisitComments
""".split())

UID_KEYWORDS: frozenset[str] = frozenset("""
StudyInstanceUID SeriesInstanceUID SOPInstanceUID FrameOfReferenceUID MediaStorageSOPInstanceUID
ReferencedSOPInstanceUID ReferencedFrameOfReferenceUID SynchronizationFrameOfReferenceUID
IrradiationEventUID ConcatenationUID DimensionOrganizationUID StorageMediaFileSetUID
""".split())


def hashed_uid(uid: str) -> str:
    """A stable replacement UID under the 2.25 (UUID-derived) root."""
    digest = hashlib.sha256(b"r1mm-deid:" + uid.encode()).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


def deidentify(ds: pydicom.Dataset) -> None:
    """Remove identifying attributes in place, through nested sequences, and mark the dataset."""
    ds.remove_private_tags()

    def scrub(dataset: pydicom.Dataset, elem: pydicom.DataElement) -> None:
        if elem.keyword in PHI_KEYWORDS:
            del dataset[elem.tag]
        elif elem.keyword in UID_KEYWORDS and elem.value:
            elem.value = hashed_uid(str(elem.value))

    ds.walk(scrub)
    if hasattr(ds, "file_meta"):
        meta_uid = ds.file_meta.get("MediaStorageSOPInstanceUID")
        if meta_uid:
            ds.file_meta.MediaStorageSOPInstanceUID = hashed_uid(str(meta_uid))
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD_TAG
